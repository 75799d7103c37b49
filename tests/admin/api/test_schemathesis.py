"""Schemathesis against the OpenAPI document of a live server: no 5xx, every answer in the
document (status, content type, schema), no schema-valid request refused and no
schema-violating one accepted.

``st run`` (schemathesis's documented command line) runs every phase (coverage: boundary and
invalid values of every parameter and field; fuzzing: ``EXAMPLES`` generated requests per
operation and mode; stateful: chains of calls through the links it infers) with every check,
deterministically (Hypothesis derandomised: the same requests on every run). It targets only
the server on 127.0.0.1, authenticated with a real API key in both dialects' way of sending it
(``Bearer <key>`` on the Mailerlogic paths, the bare key on the others). Nothing leaves this
machine: the server resolves names through a closed loopback port, refuses webhooks to
anything but public addresses (the default), and records no event a webhook would carry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from edge.config import Settings
from tests.conftest import LiveServer, free_port
from tests.fixtures_admin import make_key

ROOT = Path(__file__).resolve().parents[3]
#: Generated requests per operation in the fuzzing phase, in each mode (valid and invalid).
EXAMPLES = 30
#: Schema-valid requests refused by a rule the document states in words are judged by
#: ``refused_only_by_rules_in_words`` (in the hooks module), not by this check.
ACCEPTED = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]

CONFIG = """\
hooks = "tests.admin.api.schemathesis_hooks"

[generation]
max-examples = {examples}
deterministic = true

[checks.positive_data_acceptance]
expected-statuses = {accepted}

[[operations]]
include-path-regex = "^/api/v1/customer/"
headers = {{ Authorization = "Bearer {key}" }}

[[operations]]
exclude-path-regex = "^/api/v1/customer/"
headers = {{ Authorization = "{key}" }}
"""


@pytest.fixture(params=["sqlite", "postgres"])
def schema_server(request, settings: Settings) -> LiveServer:
    # A resolver that never answers: no name a generated request carries is looked up off
    # this machine (verification, reachability, webhook hosts).
    closed = f"127.0.0.1:{free_port()}"
    settings = replace(settings, dns_nameservers=(closed,), dns_timeout=0.2)
    if request.param == "postgres":  # PostgreSQL's text, say, is not SQLite's
        settings = replace(settings, database_url=request.getfixturevalue("pg_url"))
    # Asked for after the database, so that the server stops before the database is dropped.
    return request.getfixturevalue("make_server")(settings)


def run_schemathesis(live: LiveServer, tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict]:
    key = make_key(live, "acme")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(examples=EXAMPLES, accepted=json.dumps(ACCEPTED), key=key))
    report = tmp_path / "report.json"
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run"),
        f"{live.url}/api/v1/openapi.json",
        *("--header", "Host: admin.test"),
        *("--checks", "all", "--workers", "1", "--no-color"),
        *("--report", "json", "--report-json-path", str(report)),
    ]
    # In the test's directory: schemathesis keeps a cache in the current one.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    return done, json.loads(report.read_text()) if report.exists() else {}


@pytest.mark.slow
def test_the_server_answers_as_its_openapi_document_says(schema_server, tmp_path):
    done, report = run_schemathesis(schema_server, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["operations"]["tested"] == report["operations"]["selected"] == 37
    assert report["test_cases"]["with_failures"] == 0
    # The key was taken on every route (both ways of sending it): not a run of 401s.
    assert report["warnings"]["missing_auth"] == []
    cases = report["test_cases"]
    print(f"schemathesis: {cases['generated']} test cases in {report['running_time']:.1f} s")
    # Nothing was recorded, so no webhook a generated request registered has anything to send.
    schema_server.drain()
    assert schema_server.app.runtime.recorder.spooled == 0
