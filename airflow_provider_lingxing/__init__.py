"""Apache Airflow provider for the Lingxing (领星) ERP OpenAPI."""

from airflow_provider_lingxing.get_provider_info import get_provider_info

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]
