"""Task ids packed for a trigger's kwargs: exact round trip, small for ids of one run, damage refused."""

from __future__ import annotations

import json
import random

import pytest

from airflow_provider_lingxing.api.compact_ids import PACKED_PREFIX, is_packed, pack_task_ids, unpack_task_ids

MAX_TASK_ID = 2**63 - 1


@pytest.mark.parametrize(
    "ids",
    [
        [],
        [0],
        [1003100],
        [MAX_TASK_ID, 1, MAX_TASK_ID - 1],
        list(range(1_000_000_000_000_000, 1_000_000_000_000_500)),
        [5, 5, 3, 3, 1],
    ],
)
def test_a_round_trip_gives_the_sorted_distinct_ids(ids):
    packed = pack_task_ids(ids)
    assert is_packed(packed) and packed.isascii()
    assert unpack_task_ids(packed) == sorted(set(ids))


def test_20000_ids_of_one_run_fit_well_under_60_kb():
    rng = random.Random(7)
    first = 1_912_000_000_000_000_000
    ids, current = [], first
    for _ in range(20_000):
        current += rng.choice([1, 1, 1, 2, 3, 17, 250])  # other clients' tasks interleave
        ids.append(current)
    packed = pack_task_ids(ids)
    assert unpack_task_ids(packed) == ids
    assert len(packed) < 60_000 // 4, f"{len(packed)} bytes"
    assert len(json.dumps(ids)) > 60_000, "the plain list is what would not fit"


def test_even_unrelated_ids_stay_exact():
    rng = random.Random(11)
    ids = sorted(rng.sample(range(MAX_TASK_ID), 2000))
    assert unpack_task_ids(pack_task_ids(ids)) == ids


@pytest.mark.parametrize(
    "damaged",
    ["1003100", "ids1:not base64!", "ids1:" + "A" * 8, PACKED_PREFIX + "eJwDAAAAAAE=x", None, 12],
)
def test_anything_else_is_refused(damaged):
    with pytest.raises(ValueError, match="packed task ids"):
        unpack_task_ids(damaged)


def test_a_negative_id_is_refused():
    with pytest.raises(ValueError, match="not negative"):
        pack_task_ids([3, -1])


def test_a_packing_cut_short_is_refused():
    import base64
    import zlib

    cut = PACKED_PREFIX + base64.b64encode(zlib.compress(bytes([0x81]))).decode()
    with pytest.raises(ValueError, match="cut short"):
        unpack_task_ids(cut)
