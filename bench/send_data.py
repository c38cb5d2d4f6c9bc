"""The data `bench/send.py` sends: N confirmed subscribers (COPY), an issue made the
way production makes one, and, for `--categories K`, K categories over the issue's
comparisons and the audience spread over K category sets."""
from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime, timedelta, timezone


def category_names(k: int) -> list[str]:
    return [f"Bench category {n:02d}" for n in range(k)]


def category_sets(k: int) -> list[str]:
    """K distinct reader keys (`readers.categories`), each every category but one, so a
    variant holds nearly the whole issue and its messages are about the whole issue's
    size; K = 1 is everyone on "all" (one variant: the issue itself)."""
    if k <= 1:
        return [""]
    names = category_names(k)
    return ["\n".join(sorted(set(names) - {name})) for name in names]


def real_issue(session, settings, k: int = 1) -> int:
    """An issue made the way production makes one: the demo comparisons imported
    (with copies under new slugs when K needs more than the demo has), the draft
    assembled, scheduled, and frozen by the due-scan (rendered once with MJML). Five
    comparisons, or K for K > 5, the n-th in category n % K. Returns its id, now `sending`."""
    from sqlalchemy import update

    from newsletter.comparisons import store
    from newsletter.comparisons.importer import read_comparisons
    from newsletter.comparisons.models import Tool
    from newsletter.db import utcnow
    from newsletter.dev import demo
    from newsletter.issues import drafts, scheduling
    from newsletter.issues.content import included_items

    now = utcnow()
    demo.load_comparisons(session, settings)
    wanted = max(5, k)
    parsed = [item for resource in demo.demo_files() for item in read_comparisons(resource.read_bytes(), resource.name)]
    for n in range(max(0, wanted - len(parsed))):
        copy = replace(parsed[n % len(parsed)], slug=f"bench-copy-{n}")
        store.upsert(session, copy, settings, published_at=now - timedelta(minutes=n + 1))
    issue = drafts.refresh_draft(session, now).issue
    kept = [item.comparison_id for item in included_items(issue)][:wanted]
    drafts.arrange(issue, kept, {})
    if k > 1:
        names = category_names(k)
        for n, comparison_id in enumerate(kept):
            session.execute(update(Tool).where(Tool.comparison_id == comparison_id).values(category=names[n % k]))
        session.expire_all()
    scheduling.schedule(session, issue, now + timedelta(seconds=1), settings, now=now)
    [started] = scheduling.start_due(session, settings, now=now + timedelta(seconds=2))
    return started


def load_subscribers(url: str, count: int, keys: list[str]) -> None:
    """COPY `count` confirmed subscribers, the i-th with category key keys[i % len(keys)]."""
    import psycopg

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    columns = ("email, email_key, name, status, created_at, updated_at, requested_at, request_ip, "
               "request_user_agent, confirmed_at, confirm_ip, confirm_user_agent, bounce_reason, confirm_nonce, "
               "unsubscribe_token, manage_token, categories")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor().copy(f"COPY subscribers ({columns}) FROM STDIN") as copy:
            for i in range(count):
                address = f"reader{i:07d}@bench.example.com"
                copy.write_row((address, address, "", "confirmed", now, now, now, "", "", now, "", "", "", "",
                                secrets.token_urlsafe(24), secrets.token_urlsafe(24), keys[i % len(keys)]))
