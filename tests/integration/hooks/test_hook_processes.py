"""Several OS processes, one live token per app (the simulator's one-live-token mode), one shared store.

Every process that fetched its own token would invalidate the others' (2001005). With the shared store,
the host file lock and "re-read the store before fetching", no call fails and very few tokens are fetched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_lingxing.api import endpoints

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
WORKER = "tests.integration.hooks.token_worker"
PROCESSES = 6
CALLS_PER_PROCESS = 30
RESULTS = endpoints.GET_FULFILLMENT_RESULT.path
EXPIRE_AFTER_RESULTS = 100


@pytest.mark.lingxing_simulator(latency=0.01, single_token_per_app=True)
def test_processes_share_one_token_and_no_call_fails(lingxing_connection, tmp_path):
    sim = lingxing_connection
    connection = {**json.loads(sim.connection_json()), "extra": {"max_retries": 10}}
    env = {**os.environ, "AIRFLOW_CONN_LINGXING_DEFAULT": json.dumps(connection)}
    start_at = time.time() + 4.0
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                WORKER,
                str(tmp_path / "tokens.sqlite"),
                str(start_at),
                str(CALLS_PER_PROCESS),
                str(n),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for n in range(PROCESSES)
    ]
    deadline = time.time() + 60
    while sim.stats()["requests"].get(RESULTS, {}).get("0", 0) < EXPIRE_AFTER_RESULTS and time.time() < deadline:
        time.sleep(0.02)
    sim.expire_tokens()  # mid-run: every process now gets 2001003 (or 2001005) and must agree on one replacement
    summaries = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-3000:]
        summaries.append(json.loads(out.strip().splitlines()[-1]))

    stats = sim.stats()
    answers = stats["requests"]
    failures = [f for s in summaries for f in s["failures"]]
    fetched = stats["tokens_issued"]["access"]
    rejected = {
        code: sum(codes.get(code, 0) for codes in answers.values()) for code in ("2001003", "2001005", "3001008")
    }
    print(
        f"\n{PROCESSES} processes x {CALLS_PER_PROCESS} calls: {fetched} tokens fetched "
        f"(by process: {[s['fetched'] for s in summaries]}), refusals seen and recovered from: {rejected}"
    )
    assert failures == []
    assert not any(f.get("code") == "2001005" for f in failures)
    assert answers[RESULTS]["0"] == 3 * sum(s["result_calls"] for s in summaries), "25 ids = 3 batches, each once"
    assert fetched == sum(s["fetched"] for s in summaries)
    assert fetched <= 3, "one token at start and one after the expiry; a third only if a fetch raced a read"
    assert rejected["2001003"] >= 1, "the expiry happened mid-run, so the recovery was exercised"
