"""Benchmark per-domain pacing: one receiving domain throttles us, the others must not
notice. PostgreSQL, Redis, real Celery workers, and a fast SMTP sink of our own.

    python bench/pacing.py [--subscribers 40000] [--per-second 200] [--workers 2]

The audience is spread evenly over four domains, one per default family: gmail.com,
hotmail.com, yahoo.com and bench.example.com (`other`). The sink (this file run with
--sink, in a process of its own) answers every RCPT with 250, except that above
--per-second messages in the last second to yahoo.com it answers
`421 4.7.0 too many messages, slow down` and closes the connection, as Yahoo does.
The same issue is sent twice to the same audience, each time by fresh workers
against a fresh database: once with the sink never throttling, once throttling.

For each run the rate of the other three domains is their messages over the time
from the hand-off to the last of them; the throttled run must keep that within
10 % of the unthrottled one, deliver every yahoo.com recipient in the end, fail
none and send nobody anything twice. The last line is

    RESULT unthrottled_msgs_per_s=… others_msgs_per_s=… throttled_delivered=… throttled_expected=… throttled_failed=… duplicates=…
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402

DOMAINS = ("gmail.com", "hotmail.com", "yahoo.com", "bench.example.com")
THROTTLED = "yahoo.com"


# --- the sink -------------------------------------------------------------------------

class _Sink(asyncio.Protocol):
    """Just enough SMTP (EHLO, PIPELINING, MAIL, RCPT, DATA, RSET, NOOP, QUIT), fast."""

    def __init__(self, state: dict, throttle: float):
        self.state, self.throttle = state, throttle
        self.buf, self.data, self.scan, self.rcpt = bytearray(), False, 0, None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(b"220 pacing-sink ESMTP\r\n")

    def data_received(self, chunk: bytes) -> None:
        self.buf += chunk
        while not self.transport.is_closing():
            if self.data:
                end = self.buf.find(b"\r\n.\r\n", self.scan)
                if end < 0:
                    self.scan = max(0, len(self.buf) - 4)
                    return
                del self.buf[:end + 5]
                self.data, self.scan = False, 0
                self._delivered()
                self.transport.write(b"250 2.0.0 queued\r\n")
                continue
            end = self.buf.find(b"\r\n")
            if end < 0:
                return
            line = bytes(self.buf[:end])
            del self.buf[:end + 2]
            self._command(line)

    def _command(self, line: bytes) -> None:
        verb = line[:4].upper()
        write = self.transport.write
        if verb in (b"EHLO", b"HELO"):
            write(b"250-pacing-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
        elif verb == b"MAIL":
            self.rcpt = None
            write(b"250 2.1.0 ok\r\n")
        elif verb == b"RCPT":
            address = line.split(b"<", 1)[1].split(b">", 1)[0].decode().lower()
            domain = address.rpartition("@")[2]
            if domain == THROTTLED and self.throttle:
                recent, now = self.state["recent"], time.monotonic()
                while recent and recent[0] < now - 1.0:
                    recent.popleft()
                if len(recent) >= self.throttle:
                    self.state["refused"] += 1
                    write(b"421 4.7.0 too many messages, slow down\r\n")
                    self.transport.close()
                    return
                recent.append(now)
            self.rcpt = address
            write(b"250 2.1.5 ok\r\n")
        elif verb == b"DATA":
            if self.rcpt is None:
                write(b"503 5.5.1 no recipient\r\n")
            else:
                self.data, self.scan = True, 0
                write(b"354 go ahead\r\n")
        elif verb == b"QUIT":
            write(b"221 bye\r\n")
            self.transport.close()
        else:  # RSET, NOOP
            self.rcpt = None if verb == b"RSET" else self.rcpt
            write(b"250 ok\r\n")

    def _delivered(self) -> None:
        state, address = self.state, self.rcpt
        state["seen"][address] += 1
        domain = address.rpartition("@")[2]
        state["count"][domain] += 1
        state["last"][domain] = time.time()
        self.rcpt = None


def serve_sink(port: int, throttle: float, out: str) -> None:
    state = {"recent": collections.deque(), "refused": 0, "seen": collections.Counter(),
             "count": collections.Counter(), "last": {}}
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(lambda: _Sink(state, throttle), "127.0.0.1", port,
                                                        backlog=256))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.run_forever()
    server.close()
    seen = state["seen"]
    Path(out).write_text(json.dumps({
        "count": state["count"], "last": state["last"], "refused": state["refused"],
        "distinct": len(seen), "duplicates": sum(n - 1 for n in seen.values()),
    }))


# --- the runs -------------------------------------------------------------------------

def load_subscribers(url: str, count: int) -> None:
    import psycopg

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    columns = ("email, email_key, name, status, created_at, updated_at, requested_at, request_ip, "
               "request_user_agent, confirmed_at, confirm_ip, confirm_user_agent, bounce_reason, confirm_nonce, "
               "unsubscribe_token, manage_token")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor().copy(f"COPY subscribers ({columns}) FROM STDIN") as copy:
            for i in range(count):
                address = f"reader{i:07d}@{DOMAINS[i % len(DOMAINS)]}"
                copy.write_row((address, address, "", "confirmed", now, now, now, "", "", now, "", "", "", "",
                                secrets.token_urlsafe(24), secrets.token_urlsafe(24)))


def one_run(args, label: str, throttle: float, work: Path, run_id: str) -> dict:
    """One send of a fresh issue to a fresh audience by fresh workers. Both runs share
    the Redis key prefix (the queues' too), emptied after each."""
    from send import free_port
    from send_data import real_issue

    admin = sa.create_engine(args.database, isolation_level="AUTOCOMMIT")
    db_name = f"newsletter_bench_{run_id}_{label}"
    url = admin.url.set(database=db_name).render_as_string(hide_password=False)
    prefix = f"nlbench-{run_id}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    port, out = free_port(), work / f"sink-{label}.json"
    sink = subprocess.Popen([sys.executable, __file__, "--sink", str(port), "--per-second", str(throttle),
                             "--out", str(out)])
    workers = []
    try:
        env = {
            **os.environ,
            "DATABASE_URL": url, "CELERY_BROKER_URL": args.broker, "REDIS_KEY_PREFIX": prefix,
            "SECRET_KEY": secrets.token_urlsafe(32), "BASE_URL": "https://newsletter.example.com",
            "MAIL_FROM": "Weekly AI Tool Verdicts <newsletter@bench.example.com>",
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_SECURITY": "none",
            "SEND_BATCH_SIZE": str(args.batch_size), "SEND_PARALLEL_BATCHES": str(max(4, args.workers * 4)),
            "RATELIMIT_STORAGE_URI": "memory://",
        }
        os.environ.update(env)
        from newsletter import create_app
        from newsletter.config import load_settings
        from newsletter.db import Database
        from newsletter.migrate import upgrade
        from newsletter.models import Issue

        upgrade(url)
        load_subscribers(url, args.subscribers)
        db = Database(url)
        with db.session() as session:
            issue_id = real_issue(session, load_settings())
            session.commit()
        for n in range(args.workers):
            log = open(work / f"worker-{label}-{n}.log", "w")
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", "bulk,default",
                 "--pool", "solo", "--loglevel", "WARNING", "-n", f"pace{n}-{label}-{run_id}@%h"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        app = create_app(load_settings())
        celery = app.extensions["celery"]
        deadline = time.monotonic() + 60
        while len(celery.control.ping(timeout=0.5) or []) < args.workers:
            if time.monotonic() > deadline:
                raise SystemExit("workers did not come up; see " + str(work))
        from workers.delivery import dispatch_issue, sweep_deliveries

        started_wall, t0 = time.time(), time.monotonic()
        dispatch_issue.delay(issue_id)
        status, last_print, last_sweep = "sending", 0.0, t0
        while time.monotonic() - t0 < args.timeout:
            with db.session() as session:
                status = session.scalar(sa.select(Issue.status).where(Issue.id == issue_id))
                if time.monotonic() - last_print > 10:
                    counts = dict(session.execute(sa.text(
                        "SELECT pacing_group, count(*) FROM deliveries WHERE status='sent' GROUP BY 1")).all())
                    print(f"  [{label}] {time.monotonic() - t0:6.1f}s  sent per group {counts}", flush=True)
                    last_print = time.monotonic()
            if status != "sending":
                break
            if time.monotonic() - last_sweep > 15:  # what beat does in production
                sweep_deliveries.delay()
                last_sweep = time.monotonic()
            time.sleep(0.2)
        seconds = time.monotonic() - t0
        with db.session() as session:
            rows = session.execute(sa.text(
                "SELECT pacing_group, status, count(*), max(attempts) FROM deliveries GROUP BY 1, 2")).all()
        db.dispose()
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        sink.send_signal(signal.SIGTERM)
        sink.wait(20)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()
        import redis

        client = redis.Redis.from_url(args.broker)
        keys = list(client.scan_iter(f"*{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
    seen = json.loads(out.read_text())
    others = [d for d in DOMAINS if d != THROTTLED]
    others_count = sum(seen["count"].get(d, 0) for d in others)
    others_end = max(seen["last"].get(d, started_wall) for d in others) - started_wall
    result = {
        "status": status, "seconds": seconds, "rows": rows, "sink": seen,
        "others_rate": others_count / others_end if others_end > 0 else 0.0,
        "total_rate": sum(seen["count"].values()) / seconds,
        "throttled_failed": sum(n for g, st, n, _ in rows if g == "yahoo" and st == "failed"),
    }
    print(f"[{label}] issue {status} in {seconds:.1f}s; rows (group, status, count, max attempts): {rows}")
    print(f"[{label}] sink: per domain {seen['count']}, 421s {seen['refused']}, distinct {seen['distinct']}, "
          f"duplicates {seen['duplicates']}; other domains done after {others_end:.1f}s "
          f"= {result['others_rate']:.0f} msg/s; all domains {result['total_rate']:.0f} msg/s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=40_000)
    parser.add_argument("--per-second", type=float, default=200, help="yahoo.com messages/s the sink allows")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--database", default="postgresql+psycopg://127.0.0.1:5432/test")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--keep-logs", action="store_true", help="keep the workers' logs (path printed)")
    parser.add_argument("--sink", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        return serve_sink(args.sink, args.per_second, args.out)

    work, run_id = Path(tempfile.mkdtemp(prefix="bench-pacing-")), secrets.token_hex(4)
    free = one_run(args, "unthrottled", 0, work, run_id)
    paced = one_run(args, "throttled", args.per_second, work, run_id)
    expected = args.subscribers // len(DOMAINS) + (1 if args.subscribers % len(DOMAINS) > 2 else 0)
    delivered = paced["sink"]["count"].get(THROTTLED, 0)
    ratio = paced["others_rate"] / free["others_rate"] if free["others_rate"] else 0.0
    print(f"other domains: {paced['others_rate']:.0f} msg/s throttled vs {free['others_rate']:.0f} unthrottled "
          f"({ratio:.0%}; {'OK' if ratio >= 0.9 else 'SLOWER by more than 10 %'}); {THROTTLED}: {delivered} of "
          f"{expected} delivered, {paced['sink']['refused']} refusals (421) on the way")
    if args.keep_logs:
        print(f"logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"RESULT unthrottled_msgs_per_s={free['others_rate']:.0f} others_msgs_per_s={paced['others_rate']:.0f} "
          f"throttled_delivered={delivered} throttled_expected={expected} "
          f"throttled_failed={paced['throttled_failed']} "
          f"duplicates={paced['sink']['duplicates'] + free['sink']['duplicates']}")


if __name__ == "__main__":
    main()
