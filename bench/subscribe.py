"""Load test for the subscribe POST under gunicorn, against real PostgreSQL and Redis.

    python bench/subscribe.py [--seconds 20] [--connections 32] [--workers 4]

Starts gunicorn on a scratch PostgreSQL database, fetches a CSRF token and cookie
once (as a browser would), then drives POST /subscribe with wrk, each request a new
address, so every request does the full work: CSRF check, per-IP limit in Redis
(both windows in one script call), one INSERT ... ON CONFLICT statement, commit. The outbox row is the
confirmation's only hint (no Celery publish in the request); no scheduler or worker
runs here to relay or send them; the scratch database and this run's Redis keys are removed at
the end. Installs wrk from Debian's packages if it is missing.

Last line: RESULT requests_per_s=… p99_ms=… errors=… stored=…
Target on the 2-core machine: >= 500 requests/s with p99 <= 100 ms.
"""
from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.migrate import upgrade  # noqa: E402

LUA = r"""
local counter = 0
local thread_id = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  thread_id = id
end
request = function()
  counter = counter + 1
  local body = "csrf_token=" .. os.getenv("BENCH_CSRF") ..
    "&email=reader-" .. os.getenv("BENCH_RUN") .. "-" .. thread_id .. "-" .. counter .. "%40example.com&name=Bench"
  return wrk.format("POST", "/subscribe", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = os.getenv("BENCH_COOKIE"),
  }, body)
end
"""


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    print("installing wrk (Debian package)", file=sys.stderr)
    apt = ["apt-get"] if os.geteuid() == 0 else ["sudo", "apt-get"]
    subprocess.run([*apt, "update", "-qq"], check=True)
    subprocess.run([*apt, "install", "-y", "-qq", "wrk"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("wrk") or sys.exit("wrk could not be installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"gunicorn did not answer at {url}")


def parse_latency(text: str, label: str) -> float:
    match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class: sync or gthread")
    parser.add_argument("--worker-threads", type=int, default=1)
    parser.add_argument("--postgres", default="postgresql+psycopg://127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    wrk = ensure_wrk()

    run = secrets.token_hex(4)
    admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    dbname = f"bench_subscribe_{run}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{dbname}"'))
    url = admin.url.set(database=dbname).render_as_string(hide_password=False)
    prefix = f"bench-{run}"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": args.redis,
        "RATELIMIT_STORAGE_URI": args.redis,
        "REDIS_KEY_PREFIX": prefix,
        "SUBSCRIBE_RATE_LIMIT": "10000000 per minute",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "BASE_URL": f"http://127.0.0.1:{port}",
        "MAIL_FROM": "Bench <bench@example.com>",
    }
    gunicorn = None
    try:
        upgrade(url)
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
             "--worker-class", args.worker_class, "--threads", str(args.worker_threads), "--log-level", "warning", "newsletter.wsgi:app"],
            cwd=ROOT, env=env,
        )
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/subscribe")
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        html = opener.open(f"{base}/subscribe").read().decode()
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)

        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(LUA)
        result = subprocess.run(
            [wrk, "--latency", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.seconds}s",
             "-s", script.name, base],
            env={**os.environ, "BENCH_CSRF": csrf, "BENCH_COOKIE": cookie, "BENCH_RUN": run},
            capture_output=True, text=True, check=True,
        )
        os.unlink(script.name)
        print(result.stdout)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))
        non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", result.stdout)
        socket_errors = re.search(r"Socket errors: (.*)", result.stdout)
        errors = int(non_2xx.group(1)) if non_2xx else 0
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM subscribers")).scalar_one()
        engine.dispose()
        if socket_errors:
            print(f"socket errors: {socket_errors.group(1)}")
        print(
            f"RESULT requests_per_s={rps:.0f} p50_ms={parse_latency(result.stdout, '50'):.1f} "
            f"p99_ms={parse_latency(result.stdout, '99'):.1f} errors={errors} stored={stored}"
        )
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGTERM)
            gunicorn.wait(timeout=30)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        admin.dispose()
        client = redis.Redis.from_url(args.redis)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)


if __name__ == "__main__":
    main()
