"""The tables the benchmarks and `python -m reproduce.publish` write into the docs: a block between two marker comments,
replaced whole at each run."""
import re

from common.atomic import write_text


def markers(name):
    """The (start, end) comments of the block called `name`, e.g. `<!-- inference-benchmark:start -->`."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def _pattern(name):
    start, end = markers(name)
    return re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise SystemExit(f"{path}: {error.strerror}") from None


def has_block(path, name):
    """True when `path` has the block called `name`; exits with a message when `path` cannot be read."""
    return bool(_pattern(name).search(_read(path)))


def check_block(path, name, content=None):
    """Exits with a message unless `path` (its `content` when already read) has the block to fill (checked before
    minutes of measuring)."""
    if not _pattern(name).search(_read(path) if content is None else content):
        raise SystemExit("{} has no {} ... {} block to fill".format(path, *markers(name)))


def update_block(path, name, text):
    """Replaces the block called `name` in `path` with `text` (atomically)."""
    content = _read(path)
    check_block(path, name, content)
    start, end = markers(name)
    write_text(path, _pattern(name).sub(lambda _: f"{start}\n{text}\n{end}", content))
