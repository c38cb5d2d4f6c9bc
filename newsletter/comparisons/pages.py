"""The comparison site's page export: 35 lines of UTF-8 text, one field a line.

The format has no field names, only positions, so one missing or extra line shifts
every field after it. The parser is therefore strict: it checks the shape of each
line where that line is expected (labels, shares, curly quotes, the footer) and
stops at the first one out of place with a `PageError` naming the file and line,
instead of storing a comparison whose fields are silently off by one.

It returns plain dataclasses and touches no database, so the importer, the API and
the property tests can all share it.
"""
from __future__ import annotations

from .models import REVIEWERS
from .schema import (
    MAX_LENGTHS,
    ParsedComparison,
    ParsedReview,
    ParsedTool,
    parse_share,
    text_problem,
    title_for,
)
from .verdicts import derive_verdicts

PAGE_KIND = "AI tool comparison"
PAGE_LINES = 35
NO_VOTES = "—"
OPEN_QUOTE, CLOSE_QUOTE = "“", "”"
LABELS = {"ship_share": "Panel ship", "community_vote": "Community", "entry_price": "Entry"}
SCORECARD = "Reviewer scorecard"
TOOL_LINES = 10  # category, name, tagline, share, label, vote, label, price, label, description
FIRST_TOOL_LINE = (4, 14)
FIRST_QUOTE_LINE = 25
FOOTER_LINES = (33, 34, 35)


class PageError(ValueError):
    """A page that cannot be imported; `line` is 1-based (0 when no line applies)."""

    def __init__(self, file: str, line: int, message: str):
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


def parse_page(data: bytes | str, file: str = "<page>") -> ParsedComparison:
    """Parse one exported page, or raise `PageError` naming the first bad line."""
    lines = _Lines(_split(_decode(data, file)), file)
    lines.exact(1, PAGE_KIND, "the page kind")
    title = lines.text(2, "title", MAX_LENGTHS["title"])
    standfirst = lines.text(3, "standfirst")
    tools = [_tool_fields(lines, start, which) for start, which in zip(FIRST_TOOL_LINE, "AB")]
    lines.exact(24, SCORECARD, "the reviewer scorecard label")
    quotes = [lines.quote(FIRST_QUOTE_LINE + i, REVIEWERS[i // 2], "AB"[i % 2]) for i in range(8)]
    for number in FOOTER_LINES:
        lines.footer(number)
    if len(lines) > PAGE_LINES:
        lines.fail(PAGE_LINES + 1, f"extra line after the footer: the page has {len(lines)} lines, a page has {PAGE_LINES}")
    expected = title_for(tools[0]["name"], tools[1]["name"])
    if title != expected:
        lines.fail(2, f"the title {title!r} does not match the tool names: expected {expected!r}")
    parsed = []
    for index, fields in enumerate(tools):
        own = quotes[index::2]  # quotes alternate tool A, tool B for each reviewer
        verdicts = derive_verdicts(fields["ship_share"], own)
        reviews = tuple(ParsedReview(r, q, v) for r, q, v in zip(REVIEWERS, own, verdicts))
        parsed.append(ParsedTool(**fields, reviews=reviews))
    return ParsedComparison(title=title, standfirst=standfirst, tools=(parsed[0], parsed[1]))


def _decode(data: bytes | str, file: str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        raise PageError(
            file, line, f"not UTF-8 text: byte 0x{data[exc.start]:02x} at column {exc.start - line_start + 1}"
        ) from None


def _split(text: str) -> list[str]:
    """Lines without their endings; one final newline (LF or CRLF) is not an extra line."""
    if text == "":
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _tool_fields(lines: _Lines, start: int, which: str) -> dict:
    label = f"tool {which}"
    fields = {
        "category": lines.text(start, f"{label} category", MAX_LENGTHS["category"]),
        "name": lines.text(start + 1, f"{label} name", MAX_LENGTHS["name"]),
        "tagline": lines.text(start + 2, f"{label} tagline", MAX_LENGTHS["tagline"]),
        "ship_share": lines.share(start + 3, f"{label} panel ship share"),
    }
    lines.exact(start + 4, LABELS["ship_share"], "the panel ship label")
    fields["community_vote"] = lines.vote(start + 5, f"{label} community vote")
    lines.exact(start + 6, LABELS["community_vote"], "the community label")
    fields["entry_price"] = lines.text(start + 7, f"{label} entry price", MAX_LENGTHS["entry_price"])
    lines.exact(start + 8, LABELS["entry_price"], "the entry label")
    fields["description"] = lines.text(start + 9, f"{label} description")
    return fields


class _Lines:
    """The page's lines, read by 1-based number, each check raising a `PageError`."""

    def __init__(self, lines: list[str], file: str):
        self._lines = lines
        self.file = file

    def __len__(self) -> int:
        return len(self._lines)

    def fail(self, number: int, message: str):
        raise PageError(self.file, number, message)

    def raw(self, number: int) -> str:
        if number > len(self._lines):
            self.fail(number, f"missing line: the page ends after line {len(self._lines)}, a page has {PAGE_LINES}")
        return self._lines[number - 1]

    def text(self, number: int, what: str, max_length: int | None = None) -> str:
        value = self.raw(number).strip()
        problem = text_problem(value, max_length)
        if problem:
            self.fail(number, f"the {what} {problem}{_shift_hint(value)}")
        return value

    def exact(self, number: int, expected: str, what: str) -> None:
        value = self.raw(number).strip()
        if value != expected:
            self.fail(number, f"expected {what} {expected!r}, got {_shown(value)}{_shift_hint(value)}")

    def share(self, number: int, what: str) -> int:
        value = self.raw(number).strip()
        share = parse_share(value)
        if share is None:
            self.fail(number, f"the {what} must be a whole percentage from 0% to 100%, got {_shown(value)}"
                              f"{_shift_hint(value)}")
        return share

    def vote(self, number: int, what: str) -> int | None:
        value = self.raw(number).strip()
        if value == NO_VOTES:
            return None
        share = parse_share(value)
        if share is None:
            self.fail(number, f"the {what} must be {NO_VOTES!r} (no votes yet) or a percentage from 0% to 100%, "
                              f"got {_shown(value)}{_shift_hint(value)}")
        return share

    def quote(self, number: int, reviewer: str, which: str) -> str:
        value = self.raw(number).strip()
        what = f"quote {number - FIRST_QUOTE_LINE + 1} of 8 (the {reviewer} on tool {which})"
        if not (len(value) >= 2 and value.startswith(OPEN_QUOTE) and value.endswith(CLOSE_QUOTE)):
            self.fail(number, f"expected {what} in curly quotes {OPEN_QUOTE}…{CLOSE_QUOTE}, got {_shown(value)}"
                              f"{_shift_hint(value)}")
        inner = value[1:-1].strip()
        problem = text_problem(inner)
        if problem:
            self.fail(number, f"{what} {problem}")
        return inner

    def footer(self, number: int) -> None:
        value = self.raw(number).strip()
        if value.startswith(OPEN_QUOTE):
            self.fail(number, "expected the footer, got a quote: a page has exactly 8 quotes (lines 25-32)")
        problem = text_problem(value)
        if problem:
            self.fail(number, f"the footer line {problem}")


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _shift_hint(value: str) -> str:
    """A line that belongs elsewhere usually means one went missing or extra above it."""
    structural = value in (PAGE_KIND, SCORECARD, NO_VOTES, *LABELS.values()) or parse_share(value) is not None
    if structural or value.startswith(OPEN_QUOTE):
        return " (is a line missing or extra above this one?)"
    return ""
