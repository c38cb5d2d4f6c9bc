"""Benchmark the audience at scale on PostgreSQL: the CSV import, the subscribers
page's keyset pages, and the streamed export.

    python bench/import.py [--rows 100000] [--list-rows 1000000] [--database URL]

It makes a scratch database on the PostgreSQL server (default 127.0.0.1:5432, db
`test`) and migrates it, then:

1. writes a CSV of `--rows` rows (a BOM, `;` separators, quoted names with
   commas, a consent time per row, 0.1 % bad addresses and 0.1 % repeats) and
   runs `newsletter subscribers import FILE --consent …` as a process, timing it
   from start to exit (the progress bar goes to stderr);
2. with `--list-rows` (0 skips it), tops the table up to that many subscribers
   with one INSERT … SELECT, ANALYZEs it, and times the list's queries as the
   page runs them (`audience.listing.page`): the first page, a page in the
   middle (keyset), a status filter deep in the list and a prefix search, each
   the median of 20 runs;
3. runs `newsletter subscribers export -o /dev/null` over the whole table and
   reports its time and peak RSS (memory stays flat: rows are streamed).

The database is dropped afterwards. The last line is

    RESULT import_rows=… import_seconds=… list_rows=… first_page_ms=… middle_page_ms=… status_page_ms=…
           search_ms=… export_seconds=… export_peak_rss_mb=…
"""
from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

TOP_UP = """
INSERT INTO subscribers (email, email_key, name, status, created_at, updated_at, requested_at, request_ip,
    request_user_agent, confirmed_at, confirm_ip, confirm_user_agent, bounce_reason, confirm_nonce,
    unsubscribe_token, manage_token, confirm_mail_attempts, consent_source)
SELECT e, e, 'Reader ' || i, st, now(), now(), now(), '192.0.2.1', 'bench', now(), '', '', '', '',
    md5('u' || i), md5('m' || i), 0, ''
FROM (SELECT i, 'bulk' || lpad(i::text, 7, '0') || '@example.com' AS e,
             (ARRAY['confirmed','confirmed','confirmed','unsubscribed','pending','bounced'])[1 + i % 6] AS st
      FROM generate_series(1, :count) AS i) AS g
"""


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("\ufeffemail;name;status;consent_source;consent_at\r\n")
        for i in range(rows):
            if i % 1000 == 500:
                out.write(f"not-an-address-{i};Broken;;;\r\n")
            elif i % 1000 == 900:
                out.write(f"Reader{i - 1:06d}@Example.com;Again;;;\r\n")
            else:
                day = 1 + rng.randrange(28)
                out.write(f'reader{i:06d}@example.com;"Reader, {i}";confirmed;Signup form;2025-03-{day:02d}T09:00:00Z\r\n')


def newsletter(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "newsletter.cli", *args], env={**os.environ, **env}, cwd=ROOT,
                          capture_output=True, text=True)


def timed_ms(fn, runs: int = 20) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def list_figures(url: str, target: int) -> dict:
    from newsletter.audience import listing
    from newsletter.db import Database

    db = Database(url)
    with db.session() as session:
        have = session.scalar(sa.text("SELECT count(*) FROM subscribers"))
        if target > have:
            print(f"loading {target - have:,} more subscribers …", flush=True)
            session.execute(sa.text(TOP_UP), {"count": target - have})
            session.commit()
        session.execute(sa.text("ANALYZE subscribers"))
        session.commit()
        rows = session.scalar(sa.text("SELECT count(*) FROM subscribers"))
        middle = session.scalar(sa.text("SELECT id FROM subscribers ORDER BY id OFFSET :n LIMIT 1"), {"n": rows // 2})
        figures = {
            "list_rows": rows,
            "first_page_ms": timed_ms(lambda: listing.page(session)),
            "middle_page_ms": timed_ms(lambda: listing.page(session, before=middle)),
            "status_page_ms": timed_ms(lambda: listing.page(session, status="pending", before=middle)),
            "search_ms": timed_ms(lambda: listing.page(session, query="bulk00123")),
        }
    db.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--list-rows", type=int, default=1_000_000)
    parser.add_argument("--database", default="postgresql+psycopg://127.0.0.1:5432/test")
    args = parser.parse_args()

    admin = sa.create_engine(args.database, isolation_level="AUTOCOMMIT")
    db_name = f"nlbench_import_{secrets.token_hex(4)}"
    url = admin.url.set(database=db_name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    env = {"DATABASE_URL": url, "SECRET_KEY": secrets.token_urlsafe(32), "BASE_URL": "http://bench.test",
           "MAIL_FROM": "bench@example.com", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15"}
    try:
        from newsletter.migrate import upgrade

        upgrade(url)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "list.csv"
            write_csv(path, args.rows)
            print(f"importing {args.rows:,} rows ({path.stat().st_size / 1e6:.1f} MB) …", flush=True)
            start = time.perf_counter()
            result = newsletter(env, "subscribers", "import", str(path), "--consent", "Old list, double opt-in")
            import_seconds = time.perf_counter() - start
            print(result.stdout.strip())
            if result.returncode not in (0, 1) or "created" not in result.stdout:
                raise SystemExit(f"the import failed:\n{result.stderr[-2000:]}")
        figures = list_figures(url, args.list_rows) if args.list_rows else {}
        start = time.perf_counter()
        export = subprocess.Popen([sys.executable, "-m", "newsletter.cli", "subscribers", "export", "-o", os.devnull],
                                  env={**os.environ, **env}, cwd=ROOT, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(export.pid, 0)
        export_seconds = time.perf_counter() - start
        if status != 0:
            raise SystemExit(f"the export failed:\n{export.stderr.read()[-2000:]}")
        peak_mb = usage.ru_maxrss / 1024  # this one process's peak, in MB
        for key, value in figures.items():
            print(f"  {key}: {value:,.1f}" if isinstance(value, float) else f"  {key}: {value:,}")
        print(f"  export of every row: {export_seconds:.1f} s, peak RSS of the command {peak_mb:.0f} MB")
        fields = {"import_rows": args.rows, "import_seconds": f"{import_seconds:.1f}",
                  **{k: (f"{v:.2f}" if isinstance(v, float) else v) for k, v in figures.items()},
                  "export_seconds": f"{export_seconds:.1f}", "export_peak_rss_mb": f"{peak_mb:.0f}"}
        print("RESULT " + " ".join(f"{k}={v}" for k, v in fields.items()))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
