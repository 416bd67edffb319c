"""Result files are written whole or not at all: write to a temporary file beside the target, then rename.

A reproduction can be killed at any moment (Ctrl-C, kill -9); `os.replace` is atomic on POSIX and Windows, so a
reader sees either the old file or the new one, never half of one. A disk that fills up during a write leaves the
old file as it was and raises `DiskFullError`, which names the folder.
"""
import contextlib
import errno
import json
import os
import tempfile


class DiskFullError(OSError):
    """No space was left on the device of the folder being written to; the message names the folder."""


def is_disk_full(error):
    """True for an OSError that says the device (or the user's quota) is full (ours, DiskFullError, included); h5py's
    carries no errno, only text."""
    return isinstance(error, DiskFullError) or isinstance(error, OSError) and (getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
                                           or "No space left on device" in str(error))


def disk_full_error(path, error):
    """A DiskFullError for writing `path` (a file or folder), naming the folder and what to do."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    return DiskFullError(errno.ENOSPC, f"no space left on the device of {folder} while writing "
                                       f"{os.path.basename(path)}: free space there (or choose another --out) and run "
                                       f"the same command again; what was written before is intact ({error})")


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path in the target's folder; on success it replaces `path`, on error it is removed.

    For writers that want a file name (matplotlib's savefig, keras' save): `with atomic_path(p) as tmp: save(tmp)`.
    The temporary name keeps the target's suffixes (.weights.h5), since some writers choose the format from them.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    stem, dot, suffixes = os.path.basename(path).partition(".")  # keeps compound suffixes such as .weights.h5
    handle, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{dot}{suffixes}", dir=folder)
    os.close(handle)
    os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600 files; results should read like any other file
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        if is_disk_full(error) and not isinstance(error, DiskFullError):
            raise disk_full_error(path, error) from error
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path, text):
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())


def write_json(path, value):
    write_text(path, json.dumps(value, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(value):
    # numpy scalars and arrays appear in metrics; json knows neither.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
