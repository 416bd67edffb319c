"""One owner at a time: an OS file lock on a lock file, held while a process works on what the file guards (a run
folder, a synthetic data tree).

The lock is `filelock`'s: `fcntl.flock` on the lock file, which the kernel releases when the process ends however it
ends, so a `kill -9` never leaves a stale lock. On a network file system the lock is the server's: NFSv4 (or NFSv3
with lockd) and most cluster file systems support it, and there a dead client's lock lapses only when the server's
lease on it expires (NFSv4: 90 s by default). A file system without locks makes filelock fall back to a marker
file, which a killed process leaves behind: such a folder is not fit for several processes at once.

Who holds a lock (host, process id, since when) is written beside it in `<lock>.owner.json` once it is
taken, for progress lines and `--list`. Lock files are never deleted: a process waiting on the old file would lock a
file nobody else sees.
"""
import contextlib
import json
import os
import socket
import time

from common.atomic import write_json

#: seconds between two attempts while waiting for a lock held by another process
POLL_SECONDS = 1.0


class Busy(Exception):
    """The lock is held by another process; `holder` says which (`describe_holder`)."""

    def __init__(self, path, holder):
        super().__init__(f"{path} is held by {holder}")
        self.path, self.holder = path, holder


def _lock(path):
    import filelock

    # thread_local=False: a lock taken in one thread (a progress bar's, Ray's) is released by another
    return filelock.FileLock(path, thread_local=False)


def owner_path(path):
    return f"{path}.owner.json"


def describe_holder(path):
    """'process 1234 on host, since 14:02:11' from the owner file, or 'another process'."""
    try:
        with open(owner_path(path)) as handle:
            owner = json.load(handle)
        since = time.strftime("%H:%M:%S", time.localtime(owner["since"]))
        return f"process {owner['pid']} on {owner['host']}, since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def held_by_another(path):
    """The holder's description when another process holds the lock at `path`, else None (probes without waiting)."""
    if not os.path.exists(path):
        return None
    lock = _lock(path)
    try:
        lock.acquire(timeout=0)
    except Exception:  # filelock.Timeout: held
        return describe_holder(path)
    lock.release()
    return None


@contextlib.contextmanager
def exclusive(path, wait=True, on_wait=None):
    """Holds the lock at `path` for the block. If another process holds it: with `wait`, calls `on_wait(holder)`
    once and waits until it is free; without, raises `Busy`."""
    import filelock

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    lock = _lock(path)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        holder = describe_holder(path)
        if not wait:
            raise Busy(path, holder) from None
        if on_wait is not None:
            on_wait(holder)
        lock.acquire(poll_interval=POLL_SECONDS)
    try:
        write_json(owner_path(path), {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(owner_path(path))
        lock.release()
