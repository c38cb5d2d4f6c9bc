"""`newsletter dev` as a newcomer runs it: one process tree, no services."""
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
from conftest import free_port


def wait_for(url, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, timeout=5).read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.worker
def test_dev_runs_the_whole_service_on_embedded_defaults(tmp_path):
    port, smtp_port = free_port(), free_port()
    # Only what a fresh machine has: no DATABASE_URL, broker or SMTP settings at all.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "SMTP_", "TEST_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter.cli", "dev", "--port", str(port), "--smtp-port", str(smtp_port),
         "--instance", str(tmp_path / "instance")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        base = f"http://127.0.0.1:{port}"
        form = wait_for(f"{base}/subscribe")
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        form = opener.open(f"{base}/subscribe").read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        body = urllib.parse.urlencode({"csrf_token": token, "email": "newcomer@example.com", "name": "New"})
        assert "Check your inbox" in opener.open(f"{base}/subscribe", body.encode()).read().decode()

        deadline = time.monotonic() + 60
        while "newcomer@example.com" not in (inbox := opener.open(f"{base}/inbox/").read().decode()):
            assert time.monotonic() < deadline, "the confirmation never reached the dev inbox"
            time.sleep(0.5)
        key = re.search(r'href="/inbox/([^"/]+)"', inbox).group(1)
        message = opener.open(f"{base}/inbox/{key}").read().decode()
        confirm_path = re.search(rf"{re.escape(base)}(/confirm/[^\s<\"]+)", message).group(1)
        page = opener.open(base + confirm_path).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        done = opener.open(base + confirm_path, urllib.parse.urlencode({"csrf_token": token}).encode())
        assert "You're subscribed" in done.read().decode()

        # The README's other commands, in a second terminal in the same folder, find this instance.
        def newsletter(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "newsletter.cli", *args], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=60)

        made = newsletter("create-editor", "second@example.com", "--password", "second-password-1")
        assert made.returncode == 0, made.stderr
        listed = newsletter("list-editors")
        assert listed.returncode == 0 and "second@example.com" in listed.stdout and "editor@example.com" in listed.stdout
        # The banner waits for the children's start-up chatter; a stop before it would hide it.
        deadline = time.monotonic() + 30
        while not any("Ctrl-C stops everything" in line for line in list(lines)):
            assert time.monotonic() < deadline, "the banner never came"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        print("".join(lines))  # shown when the test fails
    output = "".join(lines)
    assert f"{base}/subscribe" in output
    # The banner with the addresses is the last thing printed before the requests' log:
    # the worker's and scheduler's banners no longer scroll it away.
    before_banner, banner = output.split("is running on embedded defaults", 1)
    assert "celery@" not in output and "LocalTime" not in output, output
    assert "Ctrl-C stops everything" in banner and "instance/.env" in banner.replace("\\", "/")
    assert (tmp_path / "instance" / "newsletter.sqlite").exists()
