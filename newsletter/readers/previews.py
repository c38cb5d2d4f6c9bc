"""What editors see of the category variants before sending: which category sets
occur in the audience (and how many readers each), each set's mail "as seen by a …
reader" with the same pre-flight checks as the whole issue, and the readers who
would get nothing.

The rendering is the send's own (`variants.render`, or the frozen variant once
sending started), so the preview is what those readers get. Sets whose readers
get the same comparisons share one rendering and one run of the checks.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..audience.models import Subscriber
from ..audience.recipients import receiving
from ..config import Settings
from ..issues.content import included_items
from ..issues.models import IssueStatus
from ..issues.preview import Preview, build_preview, preview_of
from .categories import ALL, CategoryError, chosen, items_for, key_of, known
from .variants import frozen_keys, sent_mail


class UnknownSet(LookupError):
    """A category set no reader of this issue has."""


def label(key: str) -> str:
    """How a set reads on a page: "Developer Tools", "Image + Writing", "All categories"."""
    return " + ".join(sorted(chosen(key))) if key else "All categories"


@dataclass
class VariantPreview:
    key: str
    readers: int | None
    preview: Preview | None  # None: nothing in the issue is in their categories

    @property
    def label(self) -> str:
        return label(self.key)

    @property
    def categories(self) -> list[str]:
        """The set as the preview link's parameters (none for the whole issue)."""
        return sorted(chosen(self.key))

    @property
    def failing(self) -> list[str]:
        if self.preview is None:
            return []
        return [f"As seen by a “{self.label}” reader: {line}" for line in self.preview.failing]


def audience_sets(session: Session) -> list[tuple[str, int]]:
    """The category sets of everyone who would get the issue now, most readers first."""
    rows = session.execute(
        select(Subscriber.categories, func.count()).where(receiving()).group_by(Subscriber.categories)
    ).all()
    return sorted(((key, count) for key, count in rows), key=lambda row: (-row[1], row[0]))


def sets_of(session: Session, issue) -> list[tuple[str, int | None]]:
    """The sets an issue goes to: the audience's before sending, the frozen ones
    after (readers counted by the delivery report, not here: None)."""
    if issue.status in IssueStatus.UPCOMING:
        return list(audience_sets(session))
    return [(ALL, None)] + [(key, None) for key in frozen_keys(session, issue.id)]


def key_from(session: Session, picked: list[str]) -> str:
    """A preview link's categories as a key; `CategoryError` for one that does not
    exist. No categories, or every one, is "all"."""
    if any(not name.strip() for name in picked):
        raise CategoryError("Empty category name.")
    return key_of(picked, known(session)) if picked else ALL


def variant_preview(session: Session, issue, settings: Settings, key: str, readers: int | None = None, *,
                    shared: dict | None = None) -> VariantPreview:
    """One set's mail and its checks, through the send's own path (`sent_mail`).
    `shared` holds renderings by the comparisons they hold ("" the whole issue)."""
    shared = {} if shared is None else shared
    if key == ALL:
        if "" not in shared:
            shared[""] = build_preview(issue, settings)
        return VariantPreview(key, readers, shared[""])
    items = items_for(included_items(issue), key)
    if not items:
        return VariantPreview(key, readers, None)
    same = tuple(item.comparison_id for item in items)
    if same not in shared:
        shared[same] = preview_of(issue, settings, lambda: sent_mail(session, issue, settings, key), items)
    return VariantPreview(key, readers, shared[same])


def all_variants(session: Session, issue, settings: Settings, whole: Preview | None = None) -> list[VariantPreview]:
    """Every set the issue goes to, each with its preview; `whole` is the whole issue's
    preview if the caller has it."""
    shared = {} if whole is None else {"": whole}
    return [variant_preview(session, issue, settings, key, count, shared=shared) for key, count in sets_of(session, issue)]


def find(session: Session, issue, settings: Settings, picked: list[str]) -> VariantPreview:
    """The set a preview link names. A set some reader has is found even if its
    categories no longer exist; otherwise `CategoryError` for a category that does
    not exist, `UnknownSet` for a set no reader of the issue has."""
    sets = dict(sets_of(session, issue))
    key = "\n".join(sorted(set(picked)))
    if key not in sets or not all(name.strip() for name in picked):
        key = key_from(session, picked)
    if key not in sets:
        raise UnknownSet(key)
    return variant_preview(session, issue, settings, key, sets[key])


def failing(whole: Preview, variants: list[VariantPreview]) -> list[str]:
    """Every failing check of every rendering that would be sent: the whole issue's
    (always: it is the web version and the "all" readers' mail), then each variant's, named."""
    return list(whole.failing) + [line for v in variants if v.key != ALL for line in v.failing]


def preflight(session: Session, issue, settings: Settings) -> list[str]:
    """What gates scheduling: `failing` over the whole issue and every variant."""
    whole = build_preview(issue, settings)
    return failing(whole, all_variants(session, issue, settings, whole))
