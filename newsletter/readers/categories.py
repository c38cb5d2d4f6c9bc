"""Which kinds of tools a reader hears about.

A comparison's categories are its tools' categories (the site's "Developer Tools",
…). A reader's choice is stored on the subscriber as a key: the chosen categories
sorted and joined by newlines, or "" for all (the default, which also takes in
categories that appear later). The key is what delivery groups by: one rendering
per distinct key in the audience, never one per person.

A delivery's variant key may also name comparisons left out for that reader
(`with_left_out`: those their welcome mail already carried, when editors say a
welcome counts as already sent); a category key never holds the separator.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audience.models import Subscriber
from ..comparisons.models import Tool
from ..issues.models import IssueItem

ALL = ""
MAX_KEY = 1000
LEFT_OUT = "\x1fwithout:"


class CategoryError(ValueError):
    """A choice naming a category that does not exist."""


def known(session: Session) -> list[str]:
    return sorted(c for c in session.scalars(select(Tool.category).distinct()) if c.strip())


def key_of(chosen: list[str] | set[str], available: list[str]) -> str:
    """The stored key for a choice; every category (or none picked) is "all"."""
    picked = {c for c in chosen if c}
    unknown = picked - set(available)
    if unknown:
        raise CategoryError("Unknown category: " + ", ".join(sorted(unknown)))
    if not picked or picked >= set(available):
        return ALL
    key = "\n".join(sorted(picked))
    if len(key) > MAX_KEY:
        raise CategoryError("Too many categories chosen.")
    return key


def chosen(key: str) -> set[str]:
    """The categories a key names; empty for "all"."""
    return set(key.split("\n")) if key else set()


def of_item(item: IssueItem) -> set[str]:
    return {tool.category for tool in item.comparison.tools}


def with_left_out(key: str, comparison_ids: set[int]) -> str:
    """A variant key: the categories `key`, less these comparisons."""
    return key + LEFT_OUT + ",".join(str(i) for i in sorted(comparison_ids)) if comparison_ids else key


def split_key(key: str) -> tuple[str, set[int]]:
    key, _, left_out = key.partition(LEFT_OUT)
    return key, {int(i) for i in left_out.split(",") if i}


def items_for(items: list[IssueItem], key: str) -> list[IssueItem]:
    """The issue's comparisons a reader with this key gets, in the editor's order."""
    key, left_out = split_key(key)
    wanted = chosen(key)
    return [item for item in items
            if (key == ALL or of_item(item) & wanted) and item.comparison_id not in left_out]


def set_for(session: Session, subscriber: Subscriber, categories: list[str]) -> None:
    """The manage page's choice; `CategoryError` stores nothing."""
    subscriber.categories = key_of(categories, known(session))
