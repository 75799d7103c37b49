"""A real TLS terminator in front of the edge: Debian's ``caddy``, unprivileged on loopback.

``caddy`` (a fixture) gives a ``CaddyRunner``: ``runner.directory`` is where Caddy keeps
everything (its storage, the files its Caddyfile names: copy them there), and
``runner.start(caddyfile, ports=...)`` runs ``caddy run`` on a Caddyfile and returns once
those loopback ports accept connections. Caddy is stopped and its directory removed after the
test. ``HOME`` and the XDG directories point into the directory; run as root (as CI is), Caddy
runs as ``nobody``: its ports are high ones and it needs no privilege. Its log is JSON lines
(``runner.log_entries()``), written where the global option ``runner.log_option()`` says.

When the binary is missing the tests that use it FAIL: ``scripts/test.sh`` (and so
``.ci/run``) installs it with apt-get.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

MISSING = (
    "caddy is not installed: the external TLS tests need Debian's `caddy` package "
    "(`apt-get install caddy`; scripts/test.sh installs it when run as root)"
)


def caddy_binary() -> str:
    path = shutil.which("caddy")
    if path is None:
        pytest.fail(MISSING, pytrace=False)
    return path


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class CaddyRunner:
    directory: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def log_path(self) -> Path:
        return self.directory / "caddy.log"

    def log_option(self) -> str:
        """The Caddyfile global ``log`` option that ``log_entries`` reads (debug level: TLS
        handshake errors are logged only there)."""
        return (
            f"log {{\n        output file {self.log_path}\n"
            "        format json\n        level DEBUG\n    }"
        )

    def log_entries(self) -> list[dict[str, Any]]:
        """Caddy's structured log so far, one dict per complete line."""
        if not self.log_path.exists():
            return []
        # The last piece is "" or a line Caddy is still writing.
        lines = self.log_path.read_text(errors="replace").split("\n")[:-1]
        return [json.loads(line) for line in lines if line.startswith("{")]

    def said(self, message: str) -> list[dict[str, Any]]:
        """The log entries so far whose ``msg`` contains ``message``."""
        return [entry for entry in self.log_entries() if message in entry.get("msg", "")]

    def await_said(self, message: str, *, timeout: float = 10) -> list[dict[str, Any]]:
        """``said(message)`` once it has an entry. Caddy may log an outcome after its client
        has seen it (a failed handshake's error is logged after the alert is sent)."""
        deadline = time.monotonic() + timeout
        while not (entries := self.said(message)):
            if time.monotonic() > deadline:
                pytest.fail(f"caddy did not log {message!r} within {timeout} s", pytrace=False)
            time.sleep(0.02)
        return entries

    def output(self) -> str:
        """What Caddy printed before its own log took over (configuration errors)."""
        path = self.directory / "caddy.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, caddyfile: str, *, ports: tuple[int, ...], timeout: float = 20) -> None:
        """Run Caddy on ``caddyfile``; return once every port in ``ports`` accepts."""
        binary = caddy_binary()
        config = self.directory / "Caddyfile"
        config.write_text(caddyfile)
        home = self.directory / "home"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
        }
        user = None
        if os.geteuid() == 0:
            user = "nobody"
            nobody = pwd.getpwnam(user)
            for path in (self.directory, *self.directory.rglob("*")):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
        with open(self.directory / "caddy.out", "ab") as out:
            process = subprocess.Popen(
                [binary, "run", "--config", str(config), "--adapter", "caddyfile"],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.directory, user=user,
            )  # fmt: skip
        self.processes.append(process)
        deadline = time.monotonic() + timeout
        while not all(_accepts(port) for port in ports):
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"caddy did not start:\n{self.output()[-3000:]}", pytrace=False)
            time.sleep(0.02)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


@pytest.fixture
def caddy() -> Iterator[CaddyRunner]:
    caddy_binary()
    # Not under pytest's tmp_path: its parents are private to root, and Caddy runs as nobody.
    runner = CaddyRunner(Path(tempfile.mkdtemp(prefix="edge-test-caddy-")))
    try:
        yield runner
    finally:
        runner.stop()
        shutil.rmtree(runner.directory, ignore_errors=True)
