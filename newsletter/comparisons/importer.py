"""Comparison files in: `newsletter import PATH…` and the demo data use this path.

Each file is read and checked whole before anything touches the database, and
then stored in a transaction of its own, so a bad file is rejected whole, never
half-imported, and the files after it still import.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from ..config import Settings
from ..db import Database
from . import json_format, store
from .json_format import InvalidComparison, comparisons_from_json
from .pages import PageError, parse_page
from .schema import ParsedComparison

SUFFIXES = (".txt", ".json")
PROGRESS_FROM = 10  # files; fewer finish before a bar is worth drawing


class FileRejected(Exception):
    """Every reason one file cannot be imported, each as `FILE:LINE: message`."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Summary:
    counts: dict[str, int] = field(
        default_factory=lambda: {store.CREATED: 0, store.UPDATED: 0, store.UNCHANGED: 0})
    rejected: int = 0

    def line(self) -> str:
        return ", ".join(f"{name} {count}" for name, count in self.counts.items()) + f", rejected {self.rejected}"


def read_comparisons(data: bytes, name: str) -> list[ParsedComparison]:
    """The comparisons in one file's bytes, by the file's suffix; `FileRejected` if any is bad."""
    suffix = Path(name).suffix.lower()
    try:
        if suffix == ".txt":
            return [parse_page(data, name)]
        if suffix == ".json":
            return comparisons_from_json(_load_json(data, name))
    except PageError as exc:
        raise FileRejected([str(exc)]) from None
    except InvalidComparison as exc:
        raise FileRejected([f"{name}: {path}: {message}" for path, message in exc.errors.items()]) from None
    raise FileRejected([f"{name}: not a comparison file: expected {' or '.join(SUFFIXES)}"])


def _load_json(data: bytes, name: str):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PageError(name, data.count(b"\n", 0, exc.start) + 1, "not UTF-8 text") from None
    try:
        return json_format.loads(text)
    except json.JSONDecodeError as exc:
        raise PageError(name, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise PageError(name, 1, "not valid JSON: nested too deeply") from None


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Files named, plus the .txt and .json files anywhere below folders named, in order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
            )
        else:
            found.append(path)
    return found


def import_paths(
    db: Database, settings: Settings, paths: Iterable[Path], report: Callable[[str], None] | None = None
) -> Summary:
    """Import every file; problems go to `report` (stderr by default), one line each."""
    files = collect_files(paths)
    summary = Summary()
    report = report or (lambda message: tqdm.write(message, file=sys.stderr))
    progress = tqdm(files, file=sys.stderr, unit="file", leave=False,
                    disable=len(files) < PROGRESS_FROM or not sys.stderr.isatty())
    for path in progress:
        try:
            parsed = read_comparisons(path.read_bytes(), str(path))
        except FileRejected as exc:
            summary.rejected += 1
            for problem in exc.problems:
                report(problem)
            continue
        except OSError as exc:
            summary.rejected += 1
            report(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        with db.session() as session:
            try:
                results = [store.upsert(session, item, settings) for item in parsed]
                session.commit()
            except SQLAlchemyError as exc:
                session.rollback()
                summary.rejected += 1
                report(f"{path}: not stored, database error: {getattr(exc, 'orig', None) or exc}")
                continue
            except InvalidComparison as exc:
                session.rollback()
                summary.rejected += 1
                report(f"{path}: not stored: {exc}")
                continue
        for result in results:
            summary.counts[result.status] += 1
    return summary
