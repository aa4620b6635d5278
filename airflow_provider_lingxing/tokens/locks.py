"""One token fetch at a time per app: a lock per process, and a file lock shared by the processes of a host.

Both are taken by polling, so the async path waits without blocking its event loop and can be cancelled. The
wait for the host's lock is bounded (`LOCK_WAIT_SECONDS`): its holder writes who it is into the lock file, a
waiter logs whom it waits for, and after the bound it fetches on its own with a warning (a stuck holder must
not hang every task of the host; the worst case is one extra token fetch).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator

try:
    import fcntl
except ImportError:  # not POSIX: tokens are then serialised within each process only
    fcntl = None  # type: ignore[assignment]

POLL_SECONDS = 0.02
LOCK_WAIT_SECONDS = 30.0
"""How long a token fetch waits for another process's fetch before going ahead alone."""

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
    with contextlib.suppress(OSError):
        since = datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}".encode(), 0)
    return True


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
    except OSError:
        return "another process"


class _HostLockWait:
    """The bounded wait for the host's lock: polled by the sync and the async path alike."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.started = time.monotonic()
        self.holder: str | None = None

    def settled(self) -> bool:
        """True once the lock is taken or the wait has run out; logs whom it waits for, once."""
        if _try_host_lock(self.fd):
            if self.holder is not None:
                _log.info("got the Lingxing token lock after %.1f s", time.monotonic() - self.started)
            return True
        if self.holder is None:
            self.holder = _holder(self.fd)
            _log.info("waiting for the Lingxing token lock, held by %s (fetching a token)", self.holder)
        waited = time.monotonic() - self.started
        if waited < LOCK_WAIT_SECONDS:
            return False
        _log.warning(
            "gave up waiting for the Lingxing token lock after %.0f s: it is held by %s; fetching the token without "
            "it (that holder may be stuck; if it fetches too, one of the two tokens is replaced and renewed)",
            waited,
            _holder(self.fd),
        )
        return True


@contextlib.contextmanager
def exclusive(owner: str) -> Iterator[None]:
    """Held by one thread of one process of this host at a time, per owner (app), but for a bounded wait."""
    with _process_lock(owner):
        fd = _open_host_lock(owner)
        try:
            if fd is not None:
                wait = _HostLockWait(fd)
                while not wait.settled():
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
            if fd is not None:
                wait = _HostLockWait(fd)
                while not wait.settled():
                    await asyncio.sleep(POLL_SECONDS)
            yield
        finally:
            if fd is not None:
                os.close(fd)
    finally:
        lock.release()
