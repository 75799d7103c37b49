#!/usr/bin/env bash
# Installs everything the test suite needs, then runs it: the README's test command and CI's.
#
#  - Debian's packages the tests run for real, installed with apt-get when missing (CI runs
#    as root): pebble (ACME test server + pebble-challtestsrv), postgresql, nginx-light
#    with libnginx-mod-stream (the cluster test's balancer: HTTP round-robin and TLS passed
#    through), caddy (the TLS terminator in front, EDGE_TLS=external) and chromium (the admin
#    console's browser test). Each test starts its own instances on loopback ports; a system
#    service a package may start is left alone. A test that needs one fails loudly without
#    it; none is ever skipped.
#  - A virtual environment in .venv with the package and its test extras.
#  - A throwaway PostgreSQL cluster on a free loopback port (initdb and pg_ctl, as the
#    postgres user when root), stopped and removed at the end; its URL is exported as
#    EDGE_TEST_DATABASE_URL.
#  - ruff, mypy and the import layering (lint-imports), then pytest over the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v pebble >/dev/null 2>&1 && command -v pebble-challtestsrv >/dev/null 2>&1 || missing+=(pebble)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || missing+=(nginx-light)
# Debian builds the stream module (TLS passthrough) as a package of its own.
if [ ! -x "$nginx_bin" ] || { "$nginx_bin" -V 2>&1 | grep -q -- '--with-stream=dynamic' \
        && ! compgen -G "/usr/lib/nginx/modules/ngx_stream_module.so" >/dev/null; }; then
    missing+=(libnginx-mod-stream)
fi
# The admin console's browser test drives Debian's chromium through Playwright (the browser
# Playwright would download is never used: no `playwright install`).
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "installing ${missing[*]} with apt-get" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "warning: ${missing[*]} not installed and apt-get is not usable; tests will fail" >&2
    fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

# A throwaway PostgreSQL for the run (the system service is left alone).
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PGROOT=$(mktemp -d /tmp/edge-test-pg.XXXXXX)
PGPORT=$(.venv/bin/python -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
as_pg=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$PGROOT"
    as_pg=(runuser -u postgres --)
fi
stop_postgres() {
    "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$PGROOT/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PGROOT"
}
trap stop_postgres EXIT
"${as_pg[@]}" "$PGBIN/initdb" -D "$PGROOT/data" -A trust -U postgres --no-sync -E UTF8 >/dev/null
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/log" -w start -o \
    "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGROOT -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null
export EDGE_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/postgres"

.venv/bin/ruff check edge admin tests bench
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
