"""One token fetch at a time per app: a lock per process, and a file lock shared by the processes of a host.

Both are taken by polling, so the async path waits without blocking its event loop and can be cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator

try:
    import fcntl
except ImportError:  # not POSIX: tokens are then serialised within each process only
    fcntl = None  # type: ignore[assignment]

POLL_SECONDS = 0.02

_log = logging.getLogger(__name__)
_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_LOCK = threading.Lock()


def _process_lock(owner: str) -> threading.Lock:
    with _PROCESS_LOCKS_LOCK:
        return _PROCESS_LOCKS.setdefault(owner, threading.Lock())


def _open_host_lock(owner: str) -> int | None:
    if fcntl is None:
        return None
    path = os.path.join(tempfile.gettempdir(), f"airflow-provider-lingxing-{owner}.lock")
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        _log.debug("cannot open the token lock file %s; serialising within this process only", path)
        return None


def _try_host_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def exclusive(owner: str) -> Iterator[None]:
    """Held by one thread of one process of this host at a time, per owner (app)."""
    with _process_lock(owner):
        fd = _open_host_lock(owner)
        try:
            while fd is not None and not _try_host_lock(fd):
                time.sleep(POLL_SECONDS)
            yield
        finally:
            if fd is not None:
                os.close(fd)


@contextlib.asynccontextmanager
async def aexclusive(owner: str) -> AsyncIterator[None]:
    """`exclusive` for an event loop: waits with `asyncio.sleep`, never blocking the loop."""
    lock = _process_lock(owner)
    while not lock.acquire(blocking=False):
        await asyncio.sleep(POLL_SECONDS)
    try:
        fd = _open_host_lock(owner)
        try:
            while fd is not None and not _try_host_lock(fd):
                await asyncio.sleep(POLL_SECONDS)
            yield
        finally:
            if fd is not None:
                os.close(fd)
    finally:
        lock.release()
