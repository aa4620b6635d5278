"""The connection test behind the UI's and the CLI's "Test": one attempt with a short timeout, a fresh token (only
a fetch proves the App Secret) published where the workers read it, and a message that names the step that
failed. See docs/lingxing-openapi.md (one live token per app id)."""

from __future__ import annotations

from dataclasses import replace

from airflow_provider_lingxing.api import errors
from airflow_provider_lingxing.api.connection import LingxingSettings
from airflow_provider_lingxing.hooks.lingxing import LingxingHook
from airflow_provider_lingxing.tokens import TokenKeeper, VariableTokenStore

PROBE_TIMEOUT = 5.0
"""Seconds the test waits for any one answer, at most (the connection's own timeout if shorter)."""

FAILED = "Lingxing connection test failed"


def _stage(error: errors.LingxingApiError) -> str:
    if error.stage is not None:
        return error.stage
    return f"the gateway (code {error.code})" if error.code is not None else "the answer"


def _publication(keeper: TokenKeeper, settings: LingxingSettings) -> str:
    if settings.redis_conn_id is not None:
        where = f"Redis (connection {settings.redis_conn_id!r})"
    elif isinstance(keeper.store, VariableTokenStore):
        where = f"the Airflow Variable {keeper.key}"
    else:
        return (
            "kept in this process only (no Airflow task, triggerer or API server here to publish it to; the "
            "workers keep theirs until they renew it)"
        )
    if keeper.shared != "shared":
        return f"could NOT be published ({keeper.shared}) to {where}: the workers will renew theirs on their next call"
    return f"published to {where}, where the workers read it"


def connection_test(hook: LingxingHook) -> tuple[bool, str]:
    """(ok, message) for the connection of `hook`; never raises."""
    try:
        settings = hook.settings
        store, limiter = hook.token_keeper.store, hook.transport.limiter
    except errors.LingxingInputError as error:
        return False, f"{FAILED} at the connection's settings: {error}"
    tester = LingxingHook(hook.lingxing_conn_id, token_store=store, limiter=limiter)
    tester._adopt(replace(settings, timeout=min(settings.timeout, PROBE_TIMEOUT), max_retries=0))
    step = "fetching a token"
    try:
        tester.token_keeper.fetch_new()
        step = "listing the sellers"
        sellers = tester.list_sellers()
    except errors.LingxingApiError as error:
        return False, f"{FAILED} at {_stage(error)} while {step}: {error}"
    except Exception as error:
        return False, f"{FAILED} while {step}: {type(error).__name__}"
    finally:
        tester.close()
    published = _publication(tester.token_keeper, settings)
    return (
        True,
        f"Connected to {settings.base_url}: a new token was issued and {published}; {len(sellers)} seller(s) visible",
    )
