"""The operators' public import path: submit (operators/submit.py) and results (operators/results.py)."""

from __future__ import annotations

from airflow_provider_lingxing.operators.results import FulfillmentResultOperator
from airflow_provider_lingxing.operators.submission_record import SubmissionRecord
from airflow_provider_lingxing.operators.submit import LingxingSubmitFulfillmentOperator

__all__ = ["FulfillmentResultOperator", "LingxingSubmitFulfillmentOperator", "SubmissionRecord"]
