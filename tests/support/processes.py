"""Child processes the tests start: stopped politely, killed if they will not stop."""
from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
