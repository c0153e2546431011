"""The folder a worker keeps its RocksDB tables in, held for the life of the process.

Two workers must never open one RocksDB folder (RocksDB's own lock would make the second
wait for a partition forever), and a restarted worker should find the state it left so
that it replays only the changelog written since. Any worker's folder will do for that:
each partition's store records the changelog offset it holds (agents.table_store), so
whichever worker opens it replays from there. So a worker takes the first folder
`<base>/worker-<n>` whose lock is free: a lone worker that restarts gets its own back,
two workers on one machine get one each, and a killed worker's lock is released by the
kernel with its process.
"""

from __future__ import annotations

import fcntl
import itertools
import os
from pathlib import Path

# A folder's lock file; held (flock) by the process using the folder.
LOCK_NAME = "owner.lock"


class StateDirBusy(RuntimeError):
    """The configured state folder is in use by another process."""


def _try_lock(path: Path) -> int | None:
    """The descriptor holding `path`'s lock, or None if another process holds it."""
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    # The pid is for people looking at the folder; the lock is what counts.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def claim(base: Path, configured: str = "") -> Path:
    """Lock and return the worker's state folder: `configured` if given (an error if it
    is taken), otherwise the first free `base/worker-<n>`. The lock lasts as long as the
    process: its descriptor is deliberately never closed."""
    if configured:
        path = Path(configured)
        if _try_lock(path) is None:
            raise StateDirBusy(f"state folder {path} is in use by another worker")
        return path
    for n in itertools.count():
        path = base / f"worker-{n}"
        if _try_lock(path) is not None:
            return path
    raise AssertionError("unreachable")
