#!/usr/bin/env bash
# Installs everything the test suite needs, then runs it: the README's test command and CI's.
#
#  - Debian's pebble (ACME test server + pebble-challtestsrv) when it is missing and apt-get
#    can be used (CI runs as root); the tests that need it fail loudly without it.
#  - A virtual environment in .venv with the package and its test extras.
#  - ruff, then pytest over the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v pebble >/dev/null 2>&1 || ! command -v pebble-challtestsrv >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "installing pebble (ACME test server) with apt-get" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >/dev/null
    else
        echo "warning: pebble is not installed and apt-get is not usable; the ACME tests will fail" >&2
    fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

.venv/bin/ruff check edge admin tests bench
.venv/bin/python -m pytest "$@"
