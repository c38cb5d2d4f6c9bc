"""The JSON shape of a comparison: what the push API accepts and returns, and what
`newsletter import` reads from `.json` files (one comparison or a list).

It carries the same fields as a page, under names, and is held to the same rules
as a page (`schema`: same lengths, same shares, title = "<A> vs <B>"), so both ways in
store the same thing. Every bad field is reported at once, by its path
(`tools[1].ship_share`), because the sender fixes them all in one go.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from .models import REVIEWERS, VERDICTS
from .schema import MAX_LENGTHS, ParsedComparison, ParsedReview, ParsedTool, text_problem, title_for
from .verdicts import derive_verdicts, expected_ships

SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
COMPARISON_FIELDS = {"slug", "title", "standfirst", "url", "published_at", "tools"}
# What the API answers with but a sender does not set; accepted so a GET body can be sent back.
READ_ONLY_FIELDS = {"created_at", "updated_at"}
TOOL_FIELDS = {"category", "name", "tagline", "ship_share", "community_vote", "entry_price", "description", "reviews"}
REVIEW_FIELDS = {"reviewer", "quote", "verdict"}


# Longer integers are no percentage, and Python refuses to parse over 4,300 digits
# with a bare ValueError; such a number is kept as a marker for the field to report.
MAX_INT_DIGITS = 30


class TooLongNumber:
    """A JSON integer with more digits than any field takes."""

    def __init__(self, digits: str):
        self.digits = len(digits.lstrip("-"))


def _parse_int(text: str) -> int | TooLongNumber:
    return TooLongNumber(text) if len(text) > MAX_INT_DIGITS else int(text)


def loads(text: str) -> Any:
    """`json.loads` that never fails on a number: what is wrong is said by the field it is in."""
    return json.loads(text, parse_int=_parse_int)


class InvalidComparison(ValueError):
    """Field path -> what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors.items()))
        self.errors = errors


def comparisons_from_json(data: Any) -> list[ParsedComparison]:
    """A JSON document that is one comparison (an object) or a list of them."""
    if isinstance(data, list):
        if not data:
            raise InvalidComparison({"(document)": "is an empty list"})
        errors: dict[str, str] = {}
        parsed = []
        for index, item in enumerate(data):
            try:
                parsed.append(comparison_from_json(item, f"[{index}]"))
            except InvalidComparison as exc:
                errors.update(exc.errors)
        if errors:
            raise InvalidComparison(errors)
        return parsed
    return [comparison_from_json(data)]


def comparison_from_json(data: Any, path: str = "") -> ParsedComparison:
    """One comparison object, or `InvalidComparison` naming every bad field."""
    v = _Validator()
    if not v.is_object(data, path or "(document)"):
        raise InvalidComparison(v.errors)
    v.no_unknown(data, COMPARISON_FIELDS | READ_ONLY_FIELDS, path)
    title = v.text(data, "title", path, MAX_LENGTHS["title"])
    standfirst = v.text(data, "standfirst", path, multiline=True)
    slug = v.optional(data, "slug", path, v.slug)
    url = v.optional(data, "url", path, v.url)
    published_at = v.optional(data, "published_at", path, v.timestamp)
    tools = v.tools(data.get("tools"), _join(path, "tools"))
    if v.errors:
        raise InvalidComparison(v.errors)
    if title != title_for(tools[0].name, tools[1].name):
        expected = title_for(tools[0].name, tools[1].name)
        raise InvalidComparison({_join(path, "title"): f"must be the tool names as {expected!r}"})
    return ParsedComparison(title, standfirst, (tools[0], tools[1]), slug, url, published_at)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Validator:
    def __init__(self):
        self.errors: dict[str, str] = {}

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, message)

    def is_object(self, value: Any, path: str) -> bool:
        if not isinstance(value, dict):
            self.fail(path, f"must be an object, got {_kind(value)}")
            return False
        return True

    def no_unknown(self, data: dict, allowed: set[str], path: str) -> None:
        for key in data:
            if key not in allowed:
                self.fail(_join(path, key), "is not a field of this shape")

    def text(self, data: dict, key: str, path: str, max_length: int | None = None, multiline: bool = False) -> str:
        where = _join(path, key)
        value = data.get(key)
        if value is None:
            self.fail(where, "is required")
            return ""
        if not isinstance(value, str):
            self.fail(where, f"must be a string, got {_kind(value)}")
            return ""
        problem = text_problem(value, max_length, multiline)
        if problem:
            self.fail(where, problem)
        return value.strip()

    def optional(self, data: dict, key: str, path: str, check):
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(_join(path, key), f"must be a string, got {_kind(value)}")
            return None
        return check(value, _join(path, key))

    def slug(self, value: str, where: str) -> str | None:
        if len(value) > MAX_LENGTHS["slug"] or not SLUG_RE.fullmatch(value):
            self.fail(where, f"must be lowercase letters and digits joined by single hyphens, "
                             f"at most {MAX_LENGTHS['slug']} characters")
            return None
        return value

    def url(self, value: str, where: str) -> str | None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > MAX_LENGTHS["url"] \
                or text_problem(value):
            self.fail(where, f"must be an absolute http(s) URL of at most {MAX_LENGTHS['url']} characters")
            return None
        return value

    def timestamp(self, value: str, where: str) -> datetime | None:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(where, "must be an ISO 8601 date and time, such as 2026-11-20T09:00:00Z")
            return None
        if moment.tzinfo is None:
            self.fail(where, "must include a time zone, such as Z or +01:00")
            return None
        try:
            moment.astimezone(timezone.utc)
        except OverflowError:
            self.fail(where, "is out of range: in UTC it falls before year 1 or after year 9999")
            return None
        return moment

    def percentage(self, data: dict, key: str, where: str, nullable: bool) -> int | None:
        value = data.get(key)
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            got = value if isinstance(value, int) and not isinstance(value, bool) else _kind(value)
            self.fail(where, f"must be a whole number from 0 to 100{' or null' if nullable else ''}, got {got}")
            return None
        return value

    def tools(self, value: Any, path: str) -> list[ParsedTool]:
        if not isinstance(value, list) or len(value) != 2:
            self.fail(path, "must be a list of exactly two tools (tool A, tool B)")
            return []
        return [tool for index, item in enumerate(value) if (tool := self.tool(item, _join(path, index)))]

    def tool(self, data: Any, path: str) -> ParsedTool | None:
        if not self.is_object(data, path):
            return None
        self.no_unknown(data, TOOL_FIELDS, path)
        text = {key: self.text(data, key, path, MAX_LENGTHS.get(key))
                for key in ("category", "name", "tagline", "entry_price")}
        description = self.text(data, "description", path, multiline=True)
        share = self.percentage(data, "ship_share", _join(path, "ship_share"), nullable=False)
        vote = self.percentage(data, "community_vote", _join(path, "community_vote"), nullable=True)
        reviews = self.reviews(data.get("reviews"), _join(path, "reviews"), share)
        if share is None or reviews is None:
            return None
        return ParsedTool(ship_share=share, community_vote=vote, description=description, reviews=reviews, **text)

    def reviews(self, value: Any, path: str, share: int | None) -> tuple[ParsedReview, ...] | None:
        if not isinstance(value, list) or len(value) != len(REVIEWERS):
            self.fail(path, f"must be a list of {len(REVIEWERS)} reviews, one by each of {', '.join(REVIEWERS)}")
            return None
        by_reviewer: dict[str, tuple[str, str | None]] = {}
        for index, item in enumerate(value):
            where = _join(path, index)
            if not self.is_object(item, where):
                continue
            self.no_unknown(item, REVIEW_FIELDS, where)
            reviewer = item.get("reviewer")
            if reviewer not in REVIEWERS:
                self.fail(_join(where, "reviewer"), f"must be one of {', '.join(REVIEWERS)}")
            elif reviewer in by_reviewer:
                self.fail(_join(where, "reviewer"), f"{reviewer} has already reviewed this tool")
            verdict = item.get("verdict")
            if verdict is not None and verdict not in VERDICTS:
                self.fail(_join(where, "verdict"), f"must be one of {', '.join(VERDICTS)} or null")
            quote = self.text(item, "quote", where, multiline=True)
            if reviewer in REVIEWERS:
                by_reviewer.setdefault(reviewer, (quote, verdict))
        if len(by_reviewer) != len(REVIEWERS) or share is None:
            return None
        quotes = [by_reviewer[r][0] for r in REVIEWERS]
        given = [by_reviewer[r][1] for r in REVIEWERS]
        ships = expected_ships(share, len(REVIEWERS))
        if ships is not None and (given.count("ship") > ships or given.count("skip") > len(REVIEWERS) - ships):
            self.fail(path, f"the verdicts given do not fit a panel ship share of {share}%")
            return None
        verdicts = derive_verdicts(share, quotes, given)
        return tuple(ParsedReview(r, q, v) for r, q, v in zip(REVIEWERS, quotes, verdicts))


def _kind(value: Any) -> str:
    if isinstance(value, TooLongNumber):
        return f"a number of {value.digits} digits"
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
