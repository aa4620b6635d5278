"""`python -m airflow_provider_lingxing.testing.simulator`: see cli.py."""

from airflow_provider_lingxing.testing.simulator.cli import main

if __name__ == "__main__":
    main()
