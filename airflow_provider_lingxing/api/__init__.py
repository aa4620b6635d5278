"""The Lingxing OpenAPI protocol as pure functions: no Airflow import, no socket."""
