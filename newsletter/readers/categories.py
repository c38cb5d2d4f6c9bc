"""Which kinds of tools a reader hears about.

A comparison's categories are its tools' categories (the site's "Developer Tools",
…). A reader's choice is stored on the subscriber as a key: the chosen categories
sorted and joined by newlines, or "" for all (the default, which also takes in
categories that appear later). The key is what delivery groups by: one rendering
per distinct key in the audience, never one per person.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audience.models import Subscriber
from ..comparisons.models import Tool
from ..issues.models import IssueItem

ALL = ""
MAX_KEY = 1000


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


def items_for(items: list[IssueItem], key: str) -> list[IssueItem]:
    """The issue's comparisons a reader with this key gets, in the editor's order."""
    if key == ALL:
        return list(items)
    wanted = chosen(key)
    return [item for item in items if of_item(item) & wanted]


def set_for(session: Session, subscriber: Subscriber, categories: list[str]) -> None:
    """The manage page's choice; `CategoryError` stores nothing."""
    subscriber.categories = key_of(categories, known(session))
