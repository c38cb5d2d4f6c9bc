"""`newsletter status`: where a send stands (a tqdm progress bar, following it live
with --watch; while it runs, each receiving-domain group's pace) and, once it is
over, the report: delivered, bounced, failed with reasons, duration, and what came
back after the relay (bounces, complaints, unsubscribes, with their rates)."""
from __future__ import annotations

import time

import click
from sqlalchemy import select

from ..db import Database
from ..delivery import pacing, retention
from ..delivery import report as reports
from ..feedback import stats
from ..issues.models import Issue, IssueStatus
from .common import database, settings

LIVE = IssueStatus.LIVE


def latest_issue_id(session) -> int | None:
    """The issue being sent, else the one sent most recently."""
    live = session.scalar(select(Issue.id).where(Issue.status.in_(LIVE)).order_by(Issue.id.desc()).limit(1))
    if live is not None:
        return live
    return session.scalar(
        select(Issue.id).where(Issue.status.in_(IssueStatus.DELIVERED)).order_by(Issue.sending_started_at.desc().nulls_last(),
                                                                  Issue.id.desc()).limit(1)
    )


def format_report(report: reports.Report, feedback: stats.IssueFeedback | None = None) -> str:
    lines = [f"issue #{report.number} (id {report.issue_id}): {report.status}"]
    if report.pause_reason:
        lines.append(f"  reason: {report.pause_reason}")
    lines.append(
        f"  recipients {report.total}: delivered {report.delivered}, bounced {report.bounced}, "
        f"failed {report.failed}, skipped {report.count('skipped')}, "
        f"nothing in their categories {report.count('empty')}, still to send "
        f"{report.count('pending') + report.count('sending') + report.count('deferred')} "
        f"(deferred {report.count('deferred')})" + ("; still adding readers to the send" if report.adding else "")
    )
    if feedback is not None and feedback.tried:
        f = feedback
        lines.append(
            f"  after the relay: delivered {f.delivered} ({f.rate(f.delivered):.1f} %), hard bounced "
            f"{f.hard_bounced} ({f.rate(f.hard_bounced):.2f} %), soft bounced {f.soft_bounced} "
            f"({f.rate(f.soft_bounced):.2f} %), complaints {f.complaints} ({f.rate(f.complaints):.3f} %), "
            f"unsubscribes {f.unsubscribes} ({f.rate(f.unsubscribes):.2f} %)"
        )
    if report.groups and report.status in LIVE:
        lines.append("  by receiving-domain group:")
        lines += [f"    {format_pace(pace)}" for pace in report.groups]
    if report.duration_s is not None:
        lines.append(f"  duration {report.duration_s:.1f}s, {report.rate_per_s:.0f} messages/s")
    if report.reasons:
        lines.append("  bounces and failures by reply:")
        lines += [f"    {count:>6}  {reply}" for reply, count in report.reasons]
    if report.last_errors and report.status in LIVE:
        lines.append("  last errors:")
        lines += [f"    {status:<8} {email}: {reply}" for email, status, reply in report.last_errors[:5]]
    return "\n".join(lines)


def _rate(rate: float) -> str:
    return f"{rate:g}/s" if rate else "unlimited"


def format_pace(pace: reports.GroupPace) -> str:
    line = (f"{pace.group}: waiting {pace.waiting} (deferred {pace.deferred}, held by a throttle {pace.throttled}); "
            f"throttled {pace.throttles} times in this send; rate {_rate(pace.configured_rate)}")
    if not pace.pace_known:
        line += ", rate now unknown (pacing state out of reach)"
    elif pace.slowed:
        line += f", slowed to {pace.current_rate:.1f}/s by throttles"
    if pace.warmup_cap:
        line += f"; warm-up {pace.warmup_used} of {pace.warmup_cap} today"
    return line


def _report(session, issue_id: int) -> reports.Report | None:
    pacer = pacing.pacer(settings())
    try:
        return reports.report(session, issue_id, settings=settings(), pacer=pacer)
    finally:
        pacer.close()


def show_status(db: Database, issue_id: int | None, watch: bool, interval: float = 1.0) -> None:
    from tqdm import tqdm

    with db.session() as session:
        issue_id = issue_id or latest_issue_id(session)
        if issue_id is None:
            raise click.ClickException("no issue has been sent yet")
        report = _report(session, issue_id)
    if report is None:
        raise click.ClickException(f"no issue with id {issue_id}")
    bar = tqdm(total=max(report.total, 1), initial=report.done, unit="msg", desc=f"issue #{report.number}",
               dynamic_ncols=True)
    try:
        while watch and report.status in LIVE:
            time.sleep(interval)
            with db.session() as session:
                report = _report(session, issue_id)
            bar.total = max(report.total, 1)
            bar.update(report.done - bar.n)
            bar.set_postfix(sent=report.delivered, deferred=report.count("deferred"), bounced=report.bounced,
                            failed=report.failed, status=report.status)
        bar.update(report.done - bar.n)
    finally:
        bar.close()
    with db.session() as session:
        feedback = stats.for_issue(session, issue_id)
    click.echo(format_report(report, feedback))


@click.command("status")
@click.argument("issue_id", required=False, type=int)
@click.option("--watch", "-w", is_flag=True, help="follow a send live until it ends")
def status_command(issue_id: int | None, watch: bool) -> None:
    """Delivery of an issue (default: the latest): progress bar, counts, then the report."""
    show_status(database(), issue_id, watch)


@click.command("roll-up-deliveries")
@click.option("--days", type=click.IntRange(30), default=None,
              help="age of a finished issue, in days (default DELIVERY_RETENTION_DAYS; at least 30)")
def roll_up_command(days: int | None) -> None:
    """Roll old issues' delivered rows up into counts (also every ten minutes).

    Bounced, failed and rows with feedback stay; reports show the same numbers."""
    days = days or settings().delivery_retention_days
    with database().session() as session:
        done = retention.roll_up(session, days, lambda rows: session.commit())
        session.commit()
    click.echo(f"rolled up {done.rows} delivery rows of {len(done.issues)} issues finished over {days} days ago")


COMMANDS = [status_command, roll_up_command]
