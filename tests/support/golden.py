"""Golden files for rendered email: compared exactly, rewritten with UPDATE_GOLDEN=1."""
from __future__ import annotations

import os
from pathlib import Path


def check_golden(folder: Path, name: str, actual: str) -> None:
    path = folder / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path.name} is missing: run with UPDATE_GOLDEN=1 to create it"
    assert actual == path.read_text(encoding="utf-8"), f"{name} changed; if intended, run with UPDATE_GOLDEN=1"
