"""Subscriber CSV files, in and out: hostile text both ways.

In: UTF-8 (a byte-order mark is dropped), `,` `;` or tab between fields (read
from the header line), quoted fields as spreadsheet programs write them. A file
that cannot be read as such (not UTF-8, binary, no `email` column, broken
quoting) is refused whole, before anything is stored; a readable file's rows are
checked one by one by `importing`.

Out: every cell that a spreadsheet would run as a formula (starting with `=`,
`+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`, so an address
or a name typed by a stranger can never execute in an editor's spreadsheet.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

COLUMNS = ("email", "name", "status", "consent_source", "consent_at")
DELIMITERS = (",", ";", "\t")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_FIELD = 10_000


class FileRejected(ValueError):
    """The whole file is unusable; nothing of it was stored. The message says why."""


@dataclass(frozen=True)
class RawRow:
    line: int  # where the record starts in the file, counting the header as line 1
    values: dict[str, str]
    extra_fields: int  # fields beyond the header's


@dataclass(frozen=True)
class CsvFile:
    columns: tuple[str, ...]
    ignored: tuple[str, ...]  # header names this import does not use
    rows: list[RawRow]


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise FileRejected("this is not a CSV text file (it contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileRejected(f"line {line}: the file is not UTF-8 text; save it as \"CSV UTF-8\"") from None


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def read(data: bytes) -> CsvFile:
    """Parse the whole file, or raise `FileRejected`."""
    text = _decode(data)
    header_line = text.split("\n", 1)[0]
    delimiter = _delimiter(header_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise FileRejected("the file is empty")
        names = [name.strip().lower() for name in header]
        if "email" not in names:
            shown = ", ".join(repr(n[:40]) for n in names[:6])
            raise FileRejected(f"line 1: the header needs an `email` column; it has {shown or 'nothing'}")
        duplicate = next((n for n in names if n and names.count(n) > 1), None)
        if duplicate:
            raise FileRejected(f"line 1: the column {duplicate!r} appears twice in the header")
        rows, start = [], reader.line_num + 1
        for record in reader:
            if any(len(field) > MAX_FIELD for field in record):
                raise FileRejected(f"line {start}: a field longer than {MAX_FIELD} characters; is this a CSV file?")
            if record and any(field.strip() for field in record):
                values = {name: field for name, field in zip(names, record) if name in COLUMNS}
                rows.append(RawRow(start, values, max(len(record) - len(names), 0)))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise FileRejected(f"line {reader.line_num}: the CSV cannot be read: {exc}") from None
    return CsvFile(tuple(n for n in names if n in COLUMNS), tuple(n for n in names if n not in COLUMNS), rows)


def neutralise(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def lines(header: Iterable[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """The CSV, one line at a time (CRLF, everything neutralised), for streaming."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: Iterable[object]) -> str:
        writer.writerow([neutralise(cell) for cell in cells])
        out = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return out

    yield line(header)
    for row in rows:
        yield line(row)
