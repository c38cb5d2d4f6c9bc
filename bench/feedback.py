"""Benchmark the ways feedback comes in: bounce mails through `newsletter bounces` over
SMTP, and signed events through one webhook (Mailgun's) under gunicorn.

    python bench/feedback.py [--events 5000] [--connections 8] [--web-workers 4] [--worker-concurrency 2]

It makes a scratch database on the PostgreSQL server (default 127.0.0.1:5432, db
`test`), loads 2 × N subscribers who were all sent one issue, starts the real
receiver process, the real web app, a real Celery worker and the scheduler (whose
relay hands the feedback inbox to the worker), then hands N RFC 3464 bounce
reports (each to its own copy's VERP address, over --connections parallel SMTP
sessions) and N signed Mailgun bounce events (over as many parallel HTTP clients).

Each stream is timed from its first request to the moment its last event is
applied (recorded in feedback_events, the subscriber suppressed), not to the last
answer: the answers come sooner, once the inbox has the entries, and are printed
too. Nothing may be lost: it counts the events stored per source, and the
subscribers suppressed. Everything it made is removed afterwards. The last line is

    RESULT smtp_events_per_s=… webhook_events_per_s=… smtp_stored=… webhook_stored=… suppressed=…
           smtp_answered_per_s=… webhook_answered_per_s=…
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import multiprocessing
import os
import secrets
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import sqlalchemy as sa  # noqa: E402

MAILGUN_KEY = "key-bench-" + secrets.token_hex(8)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"a server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def load(url: str, count: int) -> tuple[int, list[tuple[int, int, str]]]:
    """2 × count subscribers sent one issue; (issue id, [(delivery id, subscriber id, email)])."""
    import psycopg

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    columns = ("email, email_key, name, status, created_at, updated_at, requested_at, request_ip, "
               "request_user_agent, confirmed_at, confirm_ip, confirm_user_agent, bounce_reason, confirm_nonce, "
               "unsubscribe_token, manage_token")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor().copy(f"COPY subscribers ({columns}) FROM STDIN") as copy:
            for i in range(2 * count):
                address = f"reader{i:07d}@bench.example.com"
                copy.write_row((address, address, "", "confirmed", now, now, now, "", "", now, "", "", "", "",
                                secrets.token_urlsafe(24), secrets.token_urlsafe(24)))
    from newsletter.db import Database
    from newsletter.models import Issue

    db = Database(url)
    with db.session() as session:
        issue = Issue(number=1, status="sent", subject="Bench", rendered_subject="Bench", sending_started_at=now_utc(),
                      finished_at=now_utc())
        session.add(issue)
        session.commit()
        issue_id = issue.id
    db.dispose()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(
            "INSERT INTO deliveries (issue_id, subscriber_id, status, attempts, next_attempt_at, last_reply, sent_at,"
            " updated_at) SELECT %s, id, 'sent', 1, %s, '250 ok', %s, %s FROM subscribers", (issue_id, now, now, now))
        rows = conn.execute("SELECT d.id, d.subscriber_id, s.email FROM deliveries d"
                            " JOIN subscribers s ON s.id = d.subscriber_id ORDER BY d.id").fetchall()
    return issue_id, [tuple(r) for r in rows]


def run_parallel(items: list, connections: int, work) -> tuple[float, list, float]:
    """Split items over `connections` client processes (forked, so the clients are not
    one interpreter's threads sharing a lock), each calling work(chunk);
    (seconds, errors, the clients' CPU seconds)."""
    chunks = [items[i::connections] for i in range(connections)]
    context = multiprocessing.get_context("fork")
    with context.Pool(connections) as pool:
        started = time.monotonic()
        done = pool.map(_run_chunk, [(work, chunk) for chunk in chunks])
        return time.monotonic() - started, [e for e, _ in done if e], sum(cpu for _, cpu in done)


_WORK = {}


def _run_chunk(job) -> tuple[str, float]:
    name, chunk = job
    started = time.process_time()
    try:
        _WORK[name](chunk)
    except Exception as exc:  # noqa: BLE001 - reported by the caller
        return repr(exc), time.process_time() - started
    return "", time.process_time() - started


def _cpu_table() -> dict[int, tuple[int, str, float]]:
    """Every process: pid -> (parent pid, name, CPU seconds so far), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            table[int(entry.name)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / tick)
    return table


def cpu_by_part(parts: dict[str, subprocess.Popen]) -> dict[str, float]:
    """CPU seconds used so far by each started process with its children, and by PostgreSQL's
    processes, so a run says where the machine's two cores went, not only how fast it was."""
    table = _cpu_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)

    def tree(pid: int) -> float:
        return table.get(pid, (0, "", 0.0))[2] + sum(tree(child) for child in children.get(pid, []))

    used = {name: tree(proc.pid) for name, proc in parts.items()}
    used["postgres"] = sum(cpu for _, name, cpu in table.values() if name.startswith("postgres"))
    return used


def settle(parts: dict[str, subprocess.Popen], timeout: float = 60) -> None:
    """Wait until the started processes are idle (workers booted, modules imported), so
    their start-up is not counted as work of the first stream."""
    def busy() -> float:
        used = cpu_by_part(parts)
        return sum(used.values()) - used["postgres"]

    deadline, last = time.monotonic() + timeout, busy()
    while time.monotonic() < deadline:
        time.sleep(1)
        now = busy()
        if now - last < 0.05:
            return
        last = now


def cpu_line(before: dict[str, float], after: dict[str, float], clients: float, events: int) -> str:
    spent = {name: after[name] - before.get(name, 0.0) for name in after} | {"clients": clients}
    return " ".join(f"{name}={1000 * seconds / events:.2f}" for name, seconds in spent.items())


def applied_by(url: str, source: str, count: int, timeout: float = 300) -> float:
    """Wait until `count` events of `source` are recorded; the monotonic time it happened."""
    engine = sa.create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                done = conn.scalar(sa.text("SELECT count(*) FROM feedback_events WHERE source = :s"), {"s": source})
            if done >= count:
                return time.monotonic()
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise SystemExit(f"only {done} of {count} {source} events were applied within {timeout:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events per way in")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--receiver-processes", type=int, default=2, help="`newsletter bounces --processes`")
    parser.add_argument("--worker-concurrency", type=int, default=2,
                        help="Celery worker processes applying the inbox (docker-compose runs 4)")
    parser.add_argument("--database", default="postgresql+psycopg://127.0.0.1:5432/test")
    args = parser.parse_args()

    run_id = secrets.token_hex(4)
    work = Path(tempfile.mkdtemp(prefix="bench-feedback-"))
    admin = sa.create_engine(args.database, isolation_level="AUTOCOMMIT")
    db_name = f"newsletter_bench_{run_id}"
    url = admin.url.set(database=db_name).render_as_string(hide_password=False)
    smtp_port, web_port = free_port(), free_port()
    env = {
        **os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
        "SECRET_KEY": secrets.token_urlsafe(32), "BASE_URL": "https://newsletter.example.com",
        "MAIL_FROM": "Weekly AI Tool Verdicts <newsletter@bench.example.com>", "RATELIMIT_STORAGE_URI": "memory://",
        "BOUNCE_DOMAIN": "bounces.bench.example.com", "BOUNCE_LISTEN": f"127.0.0.1:{smtp_port}",
        "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
    }
    parts: dict[str, subprocess.Popen] = {}
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    try:
        os.environ.update(env)
        from support import bounces

        from newsletter.mail.verp import Verp
        from newsletter.migrate import upgrade

        upgrade(url)
        issue_id, copies = load(url, args.events)
        by_mail, by_hook = copies[:args.events], copies[args.events:]
        verp = Verp(env["SECRET_KEY"], env["BOUNCE_DOMAIN"])
        for name, command in (("bounces", ["bounces", "--processes", str(args.receiver_processes)]),
                              ("web", ["web", "--bind", f"127.0.0.1:{web_port}", "--workers", str(args.web_workers)])):
            log = work / f"{name}.log"
            parts[name] = subprocess.Popen([sys.executable, "-m", "newsletter.cli", *command], env=env, cwd=ROOT,
                                           stdout=open(log, "w"), stderr=subprocess.STDOUT)
            wait_port(smtp_port if name == "bounces" else web_port, parts[name], log)
        celery = [sys.executable, "-m", "celery", "-A", "workers.celery_app"]
        for name, command in (("worker", ["worker", "-Q", "default", "--concurrency", str(args.worker_concurrency),
                                           "-n", f"bench-{run_id}@%h"]),
                              ("beat", ["beat", "--schedule", str(work / "beat-schedule")])):
            parts[name] = subprocess.Popen([*celery, *command, "--loglevel", "WARNING"], env=env, cwd=ROOT,
                                           stdout=open(work / f"{name}.log", "w"), stderr=subprocess.STDOUT)

        settle(parts)
        mails = [(verp.address("b", d), bounces.dsn(verp.address("b", d), email,
                                                     message_id=f"issue-{issue_id}.sub-{s}@bench.example.com"))
                 for d, s, email in by_mail]

        def send_mails(chunk):
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=60) as client:
                for to, raw in chunk:
                    client.sendmail("", [to], raw)

        print(f"sending {args.events} bounce mails", flush=True)
        before, started = cpu_by_part(parts), time.monotonic()
        _WORK["mails"] = send_mails
        smtp_answered, smtp_errors, clients = run_parallel(mails, args.connections, "mails")
        smtp_seconds = applied_by(url, "smtp", args.events) - started
        smtp_cpu = cpu_line(before, cpu_by_part(parts), clients, args.events)

        def hook_body(n, email):
            stamp, token = str(int(time.time())), secrets.token_hex(16)
            signature = hmac.new(MAILGUN_KEY.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
            return json.dumps({"signature": {"timestamp": stamp, "token": token, "signature": signature},
                               "event-data": {"id": f"bench-{n}", "event": "failed", "severity": "permanent",
                                              "recipient": email, "timestamp": time.time(),
                                              "envelope": {"sender": verp.address("b", n)},
                                              "delivery-status": {"code": 550, "description": "no such user"}}})

        # The requests are written out beforehand and sent over a plain socket, one
        # connection each as a provider makes them: the clients share the two cores with
        # what is measured, so they do as little as a load generator can (http.client
        # cost as much CPU per request as the web app's handler).
        hooks = [b"POST /hooks/mailgun HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
                 for body in (hook_body(d, email).encode() for d, _, email in by_hook)]

        def post_hooks(chunk):
            for request in chunk:
                with socket.create_connection(("127.0.0.1", web_port), timeout=60) as sock:
                    sock.sendall(request)
                    answer = b""
                    while piece := sock.recv(65536):
                        answer += piece
                if not answer.startswith((b"HTTP/1.1 200 ", b"HTTP/1.0 200 ")):
                    raise RuntimeError(f"{answer[:300]!r}")

        print(f"posting {args.events} webhook events", flush=True)
        before, started = cpu_by_part(parts), time.monotonic()
        _WORK["hooks"] = post_hooks
        hook_answered, hook_errors, clients = run_parallel(hooks, args.connections, "hooks")
        hook_seconds = applied_by(url, "mailgun", args.events) - started
        hook_cpu = cpu_line(before, cpu_by_part(parts), clients, args.events)
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            stored = dict(conn.execute(sa.text("SELECT source, count(*) FROM feedback_events GROUP BY source")).all())
            suppressed = conn.scalar(sa.text("SELECT count(*) FROM subscribers WHERE status = 'bounced'"))
        engine.dispose()
        for label, errors in (("smtp", smtp_errors), ("webhook", hook_errors)):
            if errors:
                print(f"{label}: {len(errors)} client processes failed, first: {errors[0]!r}")
        smtp_rate, hook_rate = args.events / smtp_seconds, args.events / hook_seconds
        print(f"one Celery worker, {args.worker_concurrency} processes, applies the inbox")
        print(f"SMTP receiver ({args.receiver_processes} processes): {args.events} bounce mails answered in "
              f"{smtp_answered:.1f}s, applied in {smtp_seconds:.1f}s, over {args.connections} connections")
        print(f"Mailgun webhook: {args.events} events answered in {hook_answered:.1f}s, applied in "
              f"{hook_seconds:.1f}s, over {args.connections} clients, {args.web_workers} gunicorn workers")
        print(f"CPU ms per event, SMTP: {smtp_cpu}")
        print(f"CPU ms per event, webhook: {hook_cpu}")
        print(f"RESULT smtp_events_per_s={smtp_rate:.0f} webhook_events_per_s={hook_rate:.0f} "
              f"smtp_stored={stored.get('smtp', 0)} webhook_stored={stored.get('mailgun', 0)} suppressed={suppressed} "
              f"smtp_answered_per_s={args.events / smtp_answered:.0f} "
              f"webhook_answered_per_s={args.events / hook_answered:.0f}")
    finally:
        for proc in parts.values():
            proc.terminate()
        for proc in parts.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
