"""Benchmark the delivery engine end to end: PostgreSQL, Redis, real Celery workers,
and Postfix's smtp-sink as a fast loopback relay.

    python bench/send.py --subscribers 100000 [--smtp-port PORT] [--workers 2] [--categories K]

It makes a scratch database on the PostgreSQL server (default 127.0.0.1:5432, db
`test`), migrates it, loads N confirmed subscribers and one issue of five demo
comparisons, drafted, scheduled and frozen by the real due-scan, starts the workers,
hands the issue over with `dispatch_issue` and times it until the issue is `sent`.
It samples the workers' RSS from /proc. Its own smtp-sink (started when no
--smtp-port is given; Debian's `postfix` package is installed with apt-get if
smtp-sink is missing) runs quiet, with only its message counter (-c), which is
checked against the rows the database marked sent and their distinct addresses.
Before the workers start and again after the send, a raw pipelined SMTP client
(`send_raw`: the same render-once template, as many connections as workers, no
database) sends min(N, 200000) messages (--raw-messages) into a sink started the
same way: the mean of its two rates, taken either side of the engine's so a drift
in the machine's load hits both alike, is the engine's yardstick (--no-raw skips it). Everything it made is removed afterwards. The last line is

    RESULT messages_per_s=… seconds=… peak_rss_mb=… delivered=… distinct=… snapshot_seconds=…
           first_rows_seconds=… deliveries_mb=… worker_peak_rss_mb=A/B raw_msgs_per_s=…
           engine_msgs_per_s=… engine_to_raw=…

where snapshot_seconds is when the audience snapshot was complete and
first_rows_seconds when its first chunk could be sent (both from the hand-off),
peak_rss_mb the largest RSS of any one worker process (the sum over all
of them is printed above it), worker_peak_rss_mb each worker's own peak, delivered
the sink's count and distinct the database's.

With `--categories K` (K > 1) it sends twice in the same run, each time on a fresh
scratch database with fresh workers and the same issue (max(5, K) comparisons over
K categories, `send_data`): first with every reader on "all" (one variant, the
issue itself), then with the readers spread evenly over K category sets (K variants,
each frozen at the snapshot). The last line is then

    RESULT single_msgs_per_s=… variants_msgs_per_s=… k=K ratio=… single_seconds=…
           variants_seconds=… peak_rss_mb=… delivered=… distinct=…

where ratio is variants/single and delivered, distinct are those of the K-variant send.
`--rounds R` sends R times of each kind, alternating which goes first (single, K,
K, single, …), and reports the mean rates. Without --categories it sends R times,
each with its own raw runs either side, prints each round's rates and reports the
means, engine_to_raw the mean of the rounds' ratios, and each ratio in
`engine_to_raw_rounds=a/b/…`: on a busy machine one round's ratio can move by 0.1.
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import send_data  # noqa: E402
import sqlalchemy as sa  # noqa: E402


def find_smtp_sink() -> str:
    found = shutil.which("smtp-sink") or ("/usr/sbin/smtp-sink" if os.path.exists("/usr/sbin/smtp-sink") else "")
    if found:
        return found
    print("smtp-sink not found: installing Debian's postfix package (no Postfix daemon is configured)")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(sudo + ["debconf-set-selections"], input=b"postfix postfix/main_mailer_type select No configuration\n",
                   check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-q", "postfix"], check=True, env=env)
    return shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sink(log_path: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    # Quiet: -c writes only a running counter ("sess=… quit=… mesg=…") when a message
    # ends; -v, which logs every command, cost the sink more CPU than the workers.
    proc = subprocess.Popen([find_smtp_sink(), *user, "-c", f"127.0.0.1:{port}", "1024"],
                            stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
    time.sleep(0.3)
    if proc.poll() is not None:
        raise SystemExit(f"smtp-sink did not start: {log_path.read_text()[-500:]}")
    return proc, port


def stop_sink(sink: subprocess.Popen, log_path: Path) -> int:
    """Stop the sink and return how many messages it received ("." accepted): its own
    count, independent of what the database says was sent."""
    time.sleep(0.5)
    sink.send_signal(signal.SIGTERM)
    sink.wait(10)
    return sink_count(log_path)


def sink_count(log_path: Path) -> int:
    """The last message count the sink wrote (-c: "sess=… quit=… mesg=…")."""
    with open(log_path, "rb") as handle:
        handle.seek(max(0, os.path.getsize(log_path) - 4096))
        counters = re.findall(rb"mesg=(\d+)", handle.read())
    return int(counters[-1]) if counters else 0


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (from /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def family(pid: int) -> list[int]:
    """The process and its children (prefork pool processes)."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        pids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--smtp-port", type=int, default=0, help="an already running sink; default: start smtp-sink")
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes")
    parser.add_argument("--pool", default="solo", help="celery pool of each worker (solo: one process each)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--categories", type=int, default=1,
                        help="K > 1: also send with the audience spread over K category sets, and compare")
    parser.add_argument("--rounds", type=int, default=1,
                        help="sends of each kind (with --categories alternating the order); the rates are means")
    parser.add_argument("--database", default="postgresql+psycopg://127.0.0.1:5432/test")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--no-raw", dest="raw", action="store_false",
                        help="skip the raw pipelined client the engine is compared with")
    parser.add_argument("--raw-messages", type=int, default=0, help="messages per raw run; default min(N, 200000)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the sink and worker logs (path printed)")
    args = parser.parse_args()
    k = max(1, args.categories)
    single = send_once(args, k, send_data.category_sets(1), "single variant")
    if k == 1:
        rounds = [single] + [send_once(args, k, send_data.category_sets(1), "single variant")
                             for _ in range(1, args.rounds)]
        single = _mean_of(rounds)
        raw = single["raw_rate"]
        ratios = [r["rate"] / r["raw_rate"] for r in rounds if r["raw_rate"]]
        for n, r in enumerate(rounds if len(rounds) > 1 else [], 1):
            vs = f", raw {r['raw_rate']:.0f}/s, {r['rate'] / r['raw_rate']:.2f}" if r["raw_rate"] else ""
            print(f"round {n}: engine {r['rate']:.0f}/s{vs}")
        vs_raw = (f" raw_msgs_per_s={raw:.0f} engine_msgs_per_s={single['rate']:.0f} "
                  f"engine_to_raw={sum(ratios) / len(ratios):.2f}" if ratios else "")
        if len(ratios) > 1:
            vs_raw += f" engine_to_raw_rounds={'/'.join(f'{x:.2f}' for x in ratios)}"
        print(f"RESULT messages_per_s={single['rate']:.0f} seconds={single['seconds']:.1f} "
              f"peak_rss_mb={single['peak_mb']:.1f} delivered={single['received']} distinct={single['distinct']} "
              f"snapshot_seconds={single['snapshot_seconds']:.1f} first_rows_seconds={single['first_rows_seconds']:.1f} "
              f"deliveries_mb={single['table_mb']:.0f}"
              f" worker_peak_rss_mb={'/'.join(f'{p:.0f}' for p in single['peaks'])}{vs_raw}")
        return
    singles, spreads = [single], [send_once(args, k, send_data.category_sets(k), f"{k} variants")]
    for _ in range(1, args.rounds):  # then K variants first, so a drift in the machine's load evens out
        spreads.append(send_once(args, k, send_data.category_sets(k), f"{k} variants"))
        singles.append(send_once(args, k, send_data.category_sets(1), "single variant"))
    for n, (one, many) in enumerate(zip(singles, spreads), 1):
        print(f"round {n}: single {one['rate']:.0f}/s, {k} variants {many['rate']:.0f}/s")
    single, spread = _mean_of(singles), _mean_of(spreads)
    ratio = spread["rate"] / single["rate"] if single["rate"] else 0.0
    print(f"RESULT single_msgs_per_s={single['rate']:.0f} variants_msgs_per_s={spread['rate']:.0f} k={k} "
          f"ratio={ratio:.3f} rounds={args.rounds} single_seconds={single['seconds']:.1f} "
          f"variants_seconds={spread['seconds']:.1f} peak_rss_mb={max(single['peak_mb'], spread['peak_mb']):.1f} "
          f"delivered={spread['received']} distinct={spread['distinct']}")


def _mean_of(rounds: list[dict]) -> dict:
    """Rounds of one kind of send as one: mean rates and times, the largest memory,
    the last round's counts (each round checks its own)."""
    mean = {key: sum(r[key] for r in rounds) / len(rounds)
            for key in ("rate", "seconds", "raw_rate", "snapshot_seconds", "first_rows_seconds")}
    return {**rounds[-1], **mean, "peak_mb": max(r["peak_mb"] for r in rounds),
            "peaks": [max(p) for p in zip(*(r["peaks"] for r in rounds))]}


def send_once(args, k: int, keys: list[str], label: str) -> dict:
    """One send on a scratch database of its own, with its own workers and sink."""
    print(f"--- {label}: {args.subscribers} subscribers over {len(keys)} category set(s)")
    run_id = secrets.token_hex(4)
    work = Path(tempfile.mkdtemp(prefix="bench-send-"))
    admin = sa.create_engine(args.database, isolation_level="AUTOCOMMIT")
    db_name = f"newsletter_bench_{run_id}"
    url = admin.url.set(database=db_name).render_as_string(hide_password=False)
    sink, workers = None, []
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    try:
        if args.smtp_port:
            port = args.smtp_port
        else:
            sink, port = start_sink(work / "sink.log")
        env = {
            **os.environ,
            "DATABASE_URL": url, "CELERY_BROKER_URL": args.broker, "REDIS_KEY_PREFIX": f"nlbench-{run_id}",
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
        from newsletter.delivery import ledger
        from newsletter.migrate import upgrade
        from newsletter.models import Issue

        upgrade(url)
        started = time.monotonic()
        send_data.load_subscribers(url, args.subscribers, keys)
        db = Database(url)
        with db.session() as session:
            issue_id = send_data.real_issue(session, load_settings(), k)
            session.commit()
            html = session.get(Issue, issue_id).html
            mail = ledger.frozen_mail(session, issue_id)
        print(f"loaded {args.subscribers} subscribers and a {len(html.encode()) // 1024} KB issue "
              f"in {time.monotonic() - started:.1f}s")
        raws = [raw_baseline(args, work, port, load_settings(), mail, issue_id)] if args.raw else []

        for n in range(args.workers):
            log = open(work / f"worker{n}.log", "w")
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", "bulk,default",
                 "--pool", args.pool, "--loglevel", "WARNING", "-n", f"bench{n}-{run_id}@%h"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        app = create_app()
        celery = app.extensions["celery"]
        deadline = time.monotonic() + 60
        while len(celery.control.ping(timeout=0.5) or []) < args.workers:
            if time.monotonic() > deadline:
                raise SystemExit("workers did not come up; see " + str(work))
        from workers.delivery import dispatch_issue

        peak_max = peak_sum = 0
        peaks = [0] * len(workers)  # each worker's own peak (its pool processes included)
        snapshot_seconds = first_rows_seconds = None
        t0 = time.monotonic()
        dispatch_issue.delay(issue_id)
        status = "sending"
        last_print = looked_up = 0.0
        # The watch is light, since the raw client runs without one: each worker's
        # processes looked up every 5 s, not every sample, and the progress read from
        # the sink's own counter, not by counting a million rows in PostgreSQL.
        while time.monotonic() - t0 < args.timeout:
            if time.monotonic() - looked_up > 5:
                pids, looked_up = [family(w.pid) for w in workers], time.monotonic()
            families = [[rss_kb(pid) for pid in f] for f in pids]
            sizes = [kb for f in families for kb in f]
            peak_max, peak_sum = max(peak_max, max(sizes, default=0)), max(peak_sum, sum(sizes))
            peaks = [max(p, sum(f)) for p, f in zip(peaks, families)]
            with db.session() as session:
                status = session.scalar(sa.select(Issue.status).where(Issue.id == issue_id))
                if first_rows_seconds is None and session.scalar(sa.text("SELECT EXISTS (SELECT 1 FROM deliveries)")):
                    first_rows_seconds = time.monotonic() - t0
                    print(f"  the snapshot's first rows visible after {first_rows_seconds:.1f}s")
                if snapshot_seconds is None and session.scalar(sa.text(
                        "SELECT EXISTS (SELECT 1 FROM delivery_snapshots WHERE cursor >= upto)")):
                    snapshot_seconds = time.monotonic() - t0
                    print(f"  snapshot of {args.subscribers} rows complete after {snapshot_seconds:.1f}s")
            if time.monotonic() - last_print > 5 and sink is not None:
                print(f"  {time.monotonic() - t0:6.1f}s  the sink has {sink_count(work / 'sink.log')}")
                last_print = time.monotonic()
            if status != "sending":
                break
            time.sleep(0.2)
        seconds = time.monotonic() - t0
        worker_cpu = sum(cpu_seconds(pid) for w in workers for pid in family(w.pid))
        with db.session() as session:
            counts = dict(session.execute(sa.text("SELECT status, count(*) FROM deliveries GROUP BY status")).all())
            frozen = session.execute(sa.text("SELECT count(*), coalesce(avg(length(html)), 0) FROM issue_variants "
                                             "WHERE NOT empty")).one()
            table_mb = (session.scalar(sa.text("SELECT pg_total_relation_size('deliveries')")) or 0) / 2**20
            distinct = session.scalar(sa.text("SELECT count(DISTINCT s.email_key) FROM deliveries d JOIN subscribers s "
                                              "ON s.id = d.subscriber_id WHERE d.status = 'sent'"))
        db.dispose()
        delivered = counts.get("sent", 0)
        if sink is not None:
            received, sink = stop_sink(sink, work / "sink.log"), None
        else:
            received = delivered  # an outside sink: trust the database
        print(f"issue status: {status}; delivery rows: {counts}")
        if frozen[0]:
            print(f"{frozen[0]} variants frozen, {int(frozen[1]) // 1024} KB of HTML each on average")
        # The sink's own message count against the database's rows: one row per
        # subscriber (unique), so as many messages as distinct addresses marked sent,
        # and as subscribers, is exactly one copy each.
        print(f"sink received {received} messages; the database marked {delivered} rows sent to {distinct} "
              f"distinct addresses ({'OK' if received == delivered == distinct == args.subscribers else 'MISMATCH'})")
        print(f"workers: {args.workers} x pool={args.pool}; peak RSS per process {peak_max / 1024:.1f} MB, "
              f"sum over processes {peak_sum / 1024:.1f} MB; each worker's peak: "
              + ", ".join(f"{p / 1024:.1f} MB" for p in peaks))
        print(f"deliveries table with its indexes: {table_mb:.0f} MB for {sum(counts.values())} rows")
        rate = delivered / seconds if seconds else 0.0
        print(f"{label}: {rate:.0f} messages/s over {seconds:.1f}s; the workers used "
              f"{worker_cpu * 1000 / max(delivered, 1):.2f} ms CPU a message (start-up included)")
        if raws:
            raws.append(raw_baseline(args, work, port, load_settings(), mail, issue_id))
            raw = dict(rate=sum(r["rate"] for r in raws) / len(raws))
            both = " and ".join(f"{r['rate']:.0f}" for r in raws)
            print(f"engine {rate:.0f}/s against the raw client's {raw['rate']:.0f}/s (mean of {both}): "
                  f"{rate / raw['rate'] if raw['rate'] else 0:.2f}")
        else:
            raw = {}
        return dict(rate=rate, seconds=seconds, peak_mb=peak_max / 1024, received=received, distinct=distinct,
                    snapshot_seconds=snapshot_seconds or 0.0, first_rows_seconds=first_rows_seconds or 0.0, table_mb=table_mb, peaks=[p / 1024 for p in peaks], raw_rate=raw.get("rate", 0.0))
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in workers:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if sink is not None:
            sink.terminate()
            sink.wait(10)
        _cleanup(admin, db_name, args.broker, f"nlbench-{run_id}")
        if args.keep_logs:
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def raw_baseline(args, work: Path, port: int, settings, mail, issue_id: int) -> dict:
    """The raw pipelined client (`send_raw`) with the same template, as many
    connections as the engine has workers, into a sink of its own started the same
    way (or the same outside sink)."""
    import send_raw

    sink = None
    if not args.smtp_port:
        sink, port = start_sink(work / "raw-sink.log")
    try:
        accepted, seconds, cpu = send_raw.send(settings, mail, issue_id, "127.0.0.1", port,
                                          args.raw_messages or min(args.subscribers, 200_000),
                                          args.workers)
    finally:
        received = stop_sink(sink, work / "raw-sink.log") if sink is not None else None
    rate = accepted / seconds if seconds else 0.0
    print(f"raw pipelined client: {accepted} messages over {args.workers} connection(s) in {seconds:.1f}s, "
          f"{rate:.0f} messages/s, {cpu * 1000 / max(accepted, 1):.2f} ms CPU a message"
          + (f" (the sink counted {received})" if received is not None else ""))
    return dict(rate=rate, seconds=seconds)


def _cleanup(admin, db_name: str, broker: str, prefix: str) -> None:
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
    admin.dispose()
    if broker.startswith("redis"):
        import redis

        client = redis.Redis.from_url(broker)
        keys = list(client.scan_iter(f"*{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


if __name__ == "__main__":
    main()
