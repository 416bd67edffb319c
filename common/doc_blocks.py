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


def check_block(path, name):
    """Exits with a message unless `path` has the block to fill (checked before minutes of measuring)."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = handle.read()
    except OSError as error:
        raise SystemExit(f"{path}: {error.strerror}") from None
    if not _pattern(name).search(content):
        raise SystemExit("{} has no {} ... {} block to fill".format(path, *markers(name)))


def update_block(path, name, text):
    """Replaces the block called `name` in `path` with `text` (atomically)."""
    check_block(path, name)
    with open(path, encoding="utf-8") as handle:
        content = handle.read()
    start, end = markers(name)
    write_text(path, _pattern(name).sub(lambda _: f"{start}\n{text}\n{end}", content))
