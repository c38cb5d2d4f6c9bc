"""Each reviewer's verdict, which a page never states outright.

What a page does state is each tool's panel ship share (75% = three of four said
ship). The verdict of a single review is read from its quote only where the quote
says it plainly ("Skip as a standalone business bet", "earns the ship", "I'm
shipping it"); a quote that merely mentions the word ("what saves this from a
skip") says nothing. The share then settles the rest: once the plainly stated
skips (or ships) account for all the share allows, the others must be the opposite.
Anything still open is `unknown`, never a guess.
"""
from __future__ import annotations

import re

APOSTROPHE = "['’]"
SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])\s+")
NEGATION_RE = re.compile(rf"\b(not|never|no|from|avoid|without|hardly)\b|n{APOSTROPHE}t\b", re.IGNORECASE)
VERDICT_END = r"(?=$|[.!,;:—–]|\s+(it|this one|for now|as|unless|until|on|here|for me|for most)\b)"


def _cues(word: str, gerund: str) -> list[re.Pattern]:
    """Ways a reviewer states a verdict, for `word` (ship/skip) and its -ing form."""
    return [
        re.compile(rf"^{word}{VERDICT_END}", re.IGNORECASE),
        re.compile(rf"\b(i|we)(\s+would|\s+will|{APOSTROPHE}d|{APOSTROPHE}ll)\s+(still\s+|probably\s+)?{word}\b",
                   re.IGNORECASE),
        re.compile(rf"\b(i|we)(\s+am|\s+are|{APOSTROPHE}m|{APOSTROPHE}re)\s+(still\s+)?{gerund}\b", re.IGNORECASE),
        re.compile(rf"\b(is|{APOSTROPHE}s)\s+an?\s+((clear|easy|hard|firm|reluctant|conditional)\s+)?{word}\b",
                   re.IGNORECASE),
        re.compile(rf"\b(earns?|gets?|deserves?)\s+(the|a|my)\s+{word}\b", re.IGNORECASE),
        re.compile(rf"\b(verdict|call|vote)\s*(is|:)\s*{word}\b", re.IGNORECASE),
    ]


CUES = {"ship": _cues("ship", "shipping"), "skip": _cues("skip", "skipping")}


def quote_says(quote: str) -> str | None:
    """"ship" or "skip" when the quote states that verdict plainly, else None."""
    found = set()
    for sentence in SENTENCE_SPLIT_RE.split(quote.strip()):
        for verdict, patterns in CUES.items():
            for pattern in patterns:
                match = pattern.search(sentence)
                if match and not NEGATION_RE.search(sentence[max(0, match.start() - 25):match.start()]):
                    found.add(verdict)
    return found.pop() if len(found) == 1 else None


def expected_ships(ship_share: int, count: int) -> int | None:
    """How many of `count` reviewers said ship, or None if the share is not a whole number of them."""
    return None if (ship_share * count) % 100 else ship_share * count // 100


def derive_verdicts(ship_share: int, quotes: list[str], given: list[str | None] | None = None) -> list[str]:
    """One verdict per quote: "ship", "skip" or "unknown".

    `given` holds verdicts a JSON body stated (None or "unknown" where it did not);
    they count as plainly said. A share of 100% or 0% decides every verdict by itself.
    """
    count = len(quotes)
    if ship_share == 100:
        return ["ship"] * count
    if ship_share == 0:
        return ["skip"] * count
    given = [g if g in ("ship", "skip") else None for g in (given or [None] * count)]
    said = [g or quote_says(q) for g, q in zip(given, quotes)]
    ships = expected_ships(ship_share, count)
    if ships is not None and (said.count("skip") > count - ships or said.count("ship") > ships):
        said = given  # the quotes as read contradict the share: keep only what was stated
    if ships is not None and said.count("skip") == count - ships:
        return [s or "ship" for s in said]
    if ships is not None and said.count("ship") == ships:
        return [s or "skip" for s in said]
    return [s or "unknown" for s in said]
