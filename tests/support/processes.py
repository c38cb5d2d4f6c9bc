"""Child processes the tests start: stopped politely, killed if they will not stop, or
killed the way a machine crash would (the parent and its pool at once)."""
from __future__ import annotations

import os
import signal
import subprocess


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


def kill_whole(proc: subprocess.Popen) -> None:
    """SIGKILL a worker process and its pool processes, and reap it."""
    for pid in [proc.pid, *children(proc.pid)]:
        os.kill(pid, signal.SIGKILL)
    proc.wait()
