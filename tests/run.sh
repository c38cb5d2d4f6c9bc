#!/usr/bin/env bash
# Install everything from scratch and run the whole test suite, twice:
#   1. against PostgreSQL and Redis (TEST_DATABASE_URL, TEST_BROKER_URL; default 127.0.0.1),
#   2. against the embedded defaults: SQLite and kombu's SQLAlchemy transport.
# Extra arguments go to both pytest runs. pytest's "no tests ran" (exit 5) is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

run() {
  local label=$1; shift
  echo "=== $label"
  set +e
  "$@"
  local status=$?
  set -e
  if [ "$status" -eq 5 ]; then
    echo "$label: pytest collected no tests; that is a failure" >&2
    exit 1
  fi
  if [ "$status" -ne 0 ]; then
    echo "$label: failed (exit $status)" >&2
    exit "$status"
  fi
}

run "PostgreSQL + Redis" .venv/bin/python -m pytest "$@"
run "SQLite + embedded broker" env TEST_DATABASE_URL=sqlite TEST_BROKER_URL=sqla \
  .venv/bin/python -m pytest -m "not postgresql_only and not redis_only" "$@"
