"""The readers' tasks: forgetting the address hashes that click counting keeps briefly."""
from __future__ import annotations

from celery import shared_task

from newsletter.readers import clicks

from . import database


@shared_task
def forget_click_sources() -> int:
    with database().session() as session:
        forgotten = clicks.forget_sources(session)
        session.commit()
    return forgotten
