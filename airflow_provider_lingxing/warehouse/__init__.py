"""The user's SQL warehouse (PostgreSQL, MySQL/MariaDB, SQLite): the results table, the submission ledger, and
the shipped orders read from it. Each module works on any Airflow DbApiHook of a supported connection type."""
