"""One benchmark measurement per fresh process: a worker prints one JSON line last, the driver reads it."""
import json
import os
import subprocess


def run_json(command, allow_empty=False):
    """Runs `command` (a list) and returns the last stdout line that is a JSON object, or {"error": the last line of
    stderr} when it failed or printed none (with `allow_empty`, a successful run without one gives {})."""
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not (lines or allow_empty):
        reason = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        return {"error": reason[:300]}
    return json.loads(lines[-1]) if lines else {}
