"""Task ids packed small for a trigger's kwargs: sorted, as gaps (varints), zlib-compressed, base64 text.

Airflow stores a trigger's kwargs in its metadata database; MySQL's TEXT column holds 65,535 bytes, which a plain
JSON list of about 3,000 task ids (19 digits each) already exceeds. Lingxing's task ids of one submission run are
close together, so their gaps are small: 20,000 such ids pack into a few kilobytes. Pure: no Airflow import.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterable

PACKED_PREFIX = "ids1:"
"""Marks packed ids (and the format's version) in a trigger's kwargs."""


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def pack_task_ids(task_ids: Iterable[int]) -> str:
    """The ids (non-negative ints), sorted and de-duplicated, as one short ASCII string."""
    previous, gaps = 0, bytearray()
    for task_id in sorted(set(task_ids)):
        if task_id < 0:
            raise ValueError(f"task ids are not negative, got {task_id}")
        gaps += _varint(task_id - previous)
        previous = task_id
    return PACKED_PREFIX + base64.b64encode(zlib.compress(bytes(gaps), 9)).decode("ascii")


def unpack_task_ids(packed: str) -> list[int]:
    """The sorted ids of `pack_task_ids`; raises ValueError for anything else."""
    if not isinstance(packed, str) or not packed.startswith(PACKED_PREFIX):
        raise ValueError(f"packed task ids start with {PACKED_PREFIX!r}")
    try:
        gaps = zlib.decompress(base64.b64decode(packed[len(PACKED_PREFIX) :], validate=True))
    except (binascii.Error, zlib.error, ValueError):
        raise ValueError("packed task ids are damaged") from None
    ids, current, number, shift = [], 0, 0, 0
    for byte in gaps:
        number |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        current += number
        ids.append(current)
        number = shift = 0
    if shift:
        raise ValueError("packed task ids are damaged (cut short)")
    return ids


def is_packed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PACKED_PREFIX)
