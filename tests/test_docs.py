"""The commands and code the docs show, run as a reader would copy them from the page, so the pages cannot rot.

Each entry names a page and the start of a command or code block on it; the test finds it there (failing if the page
no longer shows it) and runs the text as the page has it, in a fresh process, in an empty folder. Only what runs in
seconds is listed; the long commands (training, downloads) are run by the other tests on tiny plans."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: (page, how the command line starts) of the shell commands run as shown
COMMANDS = (
    ("docs/reproducing.md", "python -m reproduce all --list"),
    ("docs/models.md", "python -m models.predict --help"),
    ("docs/speed.md", "python -m benchmarks.inference --help"),
)
#: (page, the heading above a ```python block) of the code blocks run as shown
CODE = (
    ("docs/models.md", "### Calling a SavedModel"),
)


def _page(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as handle:
        return handle.read()


def _command(page, start):
    for line in _page(page).splitlines():
        if line.strip().startswith(start):
            return line.strip().split("  #")[0].strip()  # without the page's comment
    raise AssertionError(f"{page} no longer shows a command starting {start!r}")


def _code(page, heading):
    text = _page(page)
    assert heading in text, f"{page} has no heading {heading!r}"
    match = re.search(r"```python\n(.*?)```", text[text.index(heading):], re.S)
    assert match, f"{page}: no python block under {heading!r}"
    return match.group(1)


def _run(arguments, folder):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(arguments, cwd=folder, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("page, start", COMMANDS, ids=[start for _, start in COMMANDS])
def test_the_command_runs_as_the_page_shows_it(page, start, tmp_path):
    command = _command(page, start)
    assert command.startswith("python -m ")
    result = _run([sys.executable, *command.split()[1:]], str(tmp_path))  # the package comes from PYTHONPATH
    assert result.returncode == 0, f"{page}: {command}\n{result.stderr[-2000:]}"


@pytest.mark.parametrize("page, heading", CODE, ids=[heading for _, heading in CODE])
def test_the_code_runs_as_the_page_shows_it(page, heading, tmp_path):
    result = _run([sys.executable, "-c", _code(page, heading)], str(tmp_path))
    assert result.returncode == 0, f"{page}, {heading}:\n{result.stderr[-2000:]}"
