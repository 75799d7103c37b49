"""uvicorn fenced: when the installed uvicorn lacks a private name the edge relies on, one line
says so and the edge still answers, through uvicorn's public ASGI path (or, for HTTPS beside
HTTP, refuses with one line)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess

import httpx

from edge.serving import uvicorn_internals
from edge.tokens.codec import TokenCodec
from tests.conftest import SECRET, cli_command, free_port, start_server_process

# What a uvicorn release that no longer sets these attributes in connection_made looks like to
# the check (the wrapper behaves the same, so uvicorn's own protocol still works).
WITHOUT_CONNECTION_MADE_ATTRIBUTES = """
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
made = HttpToolsProtocol.connection_made
HttpToolsProtocol.connection_made = lambda self, transport: made(self, transport)
"""
# And one whose Server._serve no longer sets ``lifespan`` nor calls ``startup`` by name.
WITHOUT_SERVER_LIFESPAN = """
import uvicorn
serve = uvicorn.Server._serve
async def _serve(self, sockets=None):
    await serve(self, sockets)
uvicorn.Server._serve = _serve
"""


def test_the_installed_uvicorn_has_every_private_name_the_edge_relies_on():
    assert uvicorn_internals.FAST_PATH_MISSING == []
    assert uvicorn_internals.LISTENERS_MISSING == []
    assert uvicorn_internals.http_protocol() is uvicorn_internals.EdgeHttpProtocol


def test_a_missing_name_is_one_log_line_and_clicks_are_still_answered(tmp_path):
    data, port = tmp_path / "data", free_port()
    proc = start_server_process(data, port, prelude=WITHOUT_CONNECTION_MADE_ATTRIBUTES)
    try:
        token = TokenCodec([SECRET]).sign_click(1, "https://example.com/a?b=1")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"host": "track.test"}) as c:
            click = c.get(f"/e/{token}")
            robots = c.get("/robots.txt")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert click.status_code == 302
    assert click.headers["location"] == "https://example.com/a?b=1"
    assert robots.text == "User-agent: *\nDisallow: /\n"
    with sqlite3.connect(data / "edge.sqlite3") as db:
        assert db.execute("SELECT url FROM events").fetchall() == [("https://example.com/a?b=1",)]
    log = (tmp_path / f"server-{port}.log").read_text()
    (line,) = [line for line in log.splitlines() if "lacks" in line]
    assert line.startswith("uvicorn ")
    assert (
        "lacks HttpToolsProtocol.transport, HttpToolsProtocol.flow, HttpToolsProtocol.client, "
        "HttpToolsProtocol.connections, "
        "which the edge's fast path relies on (supported: uvicorn >=0.55,<0.56 with httptools "
        ">=0.9,<0.10); serving through uvicorn's public ASGI path instead"
    ) in line
    assert "Traceback" not in log


def test_https_beside_http_on_a_uvicorn_lacking_its_internals_is_a_one_line_error(tmp_path):
    env = {
        **os.environ,
        "EDGE_DATA_DIR": str(tmp_path / "data"),
        "EDGE_SECRET_KEYS": SECRET,
        "EDGE_DEFAULT_DOMAIN": "track.test",
        "EDGE_ADMIN_HOST": "admin.test",
    }
    command = [*cli_command(WITHOUT_SERVER_LIFESPAN), "serve", "--port", str(free_port()),
               "--https-port", str(free_port()), "--workers", "2"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(
        "tracking-edge: error: HTTPS beside HTTP needs uvicorn internals that uvicorn "
    )
    assert done.stderr.endswith(
        " lacks (Server.lifespan, Server.startup); supported: uvicorn >=0.55,<0.56 with "
        "httptools >=0.9,<0.10\n"
    )
    assert done.stderr.count("\n") == 1
