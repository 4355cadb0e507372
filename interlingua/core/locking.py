"""One writer per store: an exclusive OS lock on ``<store>.lock``.

A :class:`~interlingua.core.store_writer.StoreWriter` holds the lock from
``create``/``resume`` until ``finalize``/``abort``/``close``. The lock is an OS file
lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on an open descriptor, so it
dies with the process: a lock file left behind by a killed writer has no holder and
blocks nobody. The file records the holder's PID (JSON) for the refusal message and
is removed on release.

Checking whether a store is being written (:func:`lock_holder`) takes the lock for an
instant; a writer acquiring the lock therefore retries for a fraction of a second
before it gives up.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import sys
import time
import weakref
from pathlib import Path

from interlingua.core.errors import StoreError

_WAIT = 0.25  # seconds a writer retries a held lock (covers a concurrent probe)


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of a store: ``<store>.lock``."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    _PID_OFFSET = 64  # the locked byte (0) cannot be read by others on Windows

    def _try_lock(fd: int, shared: bool = False) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    _PID_OFFSET = 0

    def _try_lock(fd: int, shared: bool = False) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, _PID_OFFSET, os.SEEK_SET)
        data = json.loads(os.read(fd, 4096).decode("utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def busy_message(path: str | os.PathLike, holder: dict) -> str:
    """``"<store> is being written by process N …"`` for a lock ``holder``."""
    pid = holder.get("pid")
    who = f"process {pid}" if pid else "another process"
    host = holder.get("host")
    if host and host != socket.gethostname():
        who += f" on {host}"
    since = f" (since {holder['since']})" if holder.get("since") else ""
    return f"{path} is being written by {who}{since}; wait for it to finish or stop it"


def lock_holder(path: str | os.PathLike) -> dict | None:
    """Who is writing store ``path``: ``{"pid", "host", "since"}``, or ``None`` if nobody.

    A lock file without a live holder (left by a killed writer) counts as nobody.
    """
    try:
        fd = os.open(lock_path(path), os.O_RDONLY if sys.platform != "win32" else os.O_RDWR)
    except OSError:
        return None
    try:
        if _try_lock(fd, shared=True):
            _unlock(fd)
            return None
        return _read_holder(fd)
    finally:
        os.close(fd)


def check_not_busy(path: str | os.PathLike) -> None:
    """Raise :class:`StoreError` ("… is being written by process N") if ``path`` is locked."""
    holder = lock_holder(path)
    if holder is not None:
        raise StoreError(busy_message(path, holder))


def _close(fd: int, lockfile: Path) -> None:
    try:
        same = os.stat(lockfile).st_ino == os.fstat(fd).st_ino
    except OSError:
        same = False
    if same:
        try:
            lockfile.unlink()  # while still holding it; see StoreLock.acquire
        except OSError:
            pass
    try:
        _unlock(fd)
    except OSError:
        pass
    os.close(fd)


class StoreLock:
    """An acquired writer lock on a store path (see the module docstring).

    Released by :meth:`release`, or when the object is garbage-collected, or when
    the process ends however it ends.
    """

    def __init__(self, path: Path, lockfile: Path, fd: int) -> None:
        self.path, self.lockfile = path, lockfile
        self._finalizer = weakref.finalize(self, _close, fd, lockfile)

    @classmethod
    def acquire(cls, path: str | os.PathLike, *, wait: float = _WAIT) -> StoreLock:
        """Take the lock of store ``path``.

        Raises
        ------
        StoreError
            Another live process (or another writer of this process) holds it: the
            message names its PID. Or the lock file cannot be created.
        """
        path = Path(path)
        lockfile = lock_path(path)
        deadline = time.monotonic() + wait
        while True:
            try:
                fd = os.open(lockfile, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StoreError(f"cannot create the lock file {lockfile} ({exc})") from None
            if not _try_lock(fd):
                holder = _read_holder(fd)
                os.close(fd)
                if time.monotonic() < deadline:
                    time.sleep(0.01)
                    continue
                raise StoreError(busy_message(path, holder))
            # A releasing holder unlinks the file while holding it: make sure we locked
            # the file that is at the path now, not an unlinked one.
            try:
                current = os.stat(lockfile).st_ino
            except OSError:
                current = None
            if current != os.fstat(fd).st_ino:
                _unlock(fd)
                os.close(fd)
                continue
            break
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.lseek(fd, _PID_OFFSET, os.SEEK_SET)
        os.write(fd, json.dumps(info).encode("utf-8"))
        return cls(path, lockfile, fd)

    @property
    def held(self) -> bool:
        """Whether this object still holds the lock."""
        return self._finalizer.alive

    def release(self) -> None:
        """Release the lock and remove the lock file (idempotent)."""
        self._finalizer()

    def __repr__(self) -> str:
        return f"StoreLock({str(self.path)!r}, held={self.held})"


__all__ = ["StoreLock", "busy_message", "check_not_busy", "lock_holder", "lock_path"]
