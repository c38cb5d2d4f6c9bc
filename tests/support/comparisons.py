"""Paths and builders for the comparison tests: our own fixture files, and the
shared real pages when the checkout has them next to it (CI does)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from newsletter.config import PROJECT_ROOT

FIXTURES = Path(__file__).parent.parent / "fixtures" / "comparisons"
PAGE = FIXTURES / "orbit-notes-vs-lumen-docs.txt"
PAGE_SLUG = "orbit-notes-vs-lumen-docs"
JSON_LIST = FIXTURES / "two-comparisons.json"
JSON_SLUGS = ("kestrel-chat-vs-wren-assist", "heron-ocr-vs-plover-scan")
SHARED = PROJECT_ROOT.parent / "shared" / "comparisons"


def shared_pages() -> list[Path]:
    return sorted(SHARED.glob("*.txt")) if SHARED.is_dir() else []


def page_lines() -> list[str]:
    """The fixture page's 35 lines, to mutate."""
    lines = PAGE.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == 36
    return lines[:-1]


def page_bytes(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def comparison_json() -> dict:
    """One valid comparison in the JSON shape, a fresh copy each call."""
    return copy.deepcopy(json.loads(JSON_LIST.read_text(encoding="utf-8"))[0])


def _replaced(number: int, text: str):
    def mutate(lines: list[str]) -> bytes:
        lines[number - 1] = text
        return page_bytes(lines)
    return mutate


def _deleted(number: int):
    def mutate(lines: list[str]) -> bytes:
        del lines[number - 1]
        return page_bytes(lines)
    return mutate


def _inserted(after: int, text: str):
    def mutate(lines: list[str]) -> bytes:
        lines.insert(after, text)
        return page_bytes(lines)
    return mutate


def _latin1_line(number: int):
    def mutate(lines: list[str]) -> bytes:
        raw = [line.encode("utf-8") for line in lines]
        raw[number - 1] = "Café au lait, encoded as Latin-1".encode("latin-1")
        return b"\n".join(raw) + b"\n"
    return mutate


# (case id, mutation of the fixture page's lines -> file bytes, line the error names, words it contains)
MALFORMED = [
    ("missing-tagline-line", _deleted(6), 7, "panel ship share"),
    ("missing-description-line", _deleted(13), 17, "panel ship share"),
    ("missing-quote-line", _deleted(30), 32, "quote 8 of 8"),
    ("missing-footer-line", _deleted(35), 35, "missing line"),
    ("extra-line-at-end", _inserted(35, "Unsubscribe any time"), 36, "extra line"),
    ("extra-line-in-header", _inserted(3, "A second standfirst"), 7, "panel ship share"),
    ("blank-line-before-quotes", _inserted(24, ""), 25, "quote 1 of 8"),
    ("nine-quotes", _inserted(32, "“One more opinion.”"), 33, "exactly 8 quotes"),
    ("quote-without-curly-quotes", _replaced(27, '"Straight quotes are not the format."'), 27, "curly quotes"),
    ("empty-quote", _replaced(25, "“ ”"), 25, "is empty"),
    ("share-with-space", _replaced(7, "75 %"), 7, "whole percentage"),
    ("share-over-100", _replaced(7, "110%"), 7, "whole percentage"),
    ("share-without-percent", _replaced(17, "50"), 17, "whole percentage"),
    ("share-in-words", _replaced(17, "half"), 17, "whole percentage"),
    ("share-negative", _replaced(7, "-5%"), 7, "whole percentage"),
    ("share-decimal", _replaced(7, "7.5%"), 7, "whole percentage"),
    ("share-fullwidth-digits", _replaced(7, "７５%"), 7, "whole percentage"),
    ("community-not-a-share", _replaced(9, "n/a"), 9, "community vote"),
    ("community-hyphen", _replaced(19, "-"), 19, "community vote"),
    ("empty-name", _replaced(5, ""), 5, "tool A name is empty"),
    ("blank-name", _replaced(15, "   "), 15, "tool B name is empty"),
    ("name-too-long", _replaced(5, "N" * 201), 5, "at most 200"),
    ("latin-1-line", _latin1_line(13), 13, "not UTF-8"),
    ("nul-in-description", _replaced(23, "Lumen Docs\x00 builds sites."), 23, "U+0000"),
    ("wrong-page-kind", _replaced(1, "AI tool review"), 1, "page kind"),
    ("title-not-the-names", _replaced(2, "Orbit Notes vs Lumen"), 2, "does not match the tool names"),
    ("wrong-label", _replaced(8, "Panel Ship"), 8, "panel ship label"),
    ("wrong-scorecard-label", _replaced(24, "Reviewers"), 24, "scorecard"),
]
