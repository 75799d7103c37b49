"""``tracking-edge rewrite``, run as a real process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.tokens.codec import TokenCodec
from tests.conftest import SECRET
from tests.domain_states import add_domain
from tests.stores import in_store

CODEC = TokenCodec([SECRET])
# What the tracking-edge console script runs.
ENTRY_POINT = "import sys; from admin.cli.main import main; sys.exit(main())"


@pytest.fixture
def run(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env |= {
        "EDGE_DATA_DIR": str(tmp_path / "data"),
        "EDGE_SECRET_KEYS": SECRET,
        "EDGE_DEFAULT_DOMAIN": "track.test",
        "EDGE_ADMIN_HOST": "admin.test",
    }

    def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-c", ENTRY_POINT, "rewrite", *args],
            input=stdin,
            capture_output=True,
            env=env,
            timeout=60,
        )

    return run


def acme_with_domains(database: Path, *states: tuple[str, str, str]) -> int:
    """Account ``acme`` with tracking domains ``(name, cname, compliance)``; its id."""

    async def add(tx) -> int:
        acme = await tx.accounts.ensure("acme", now=int(time.time()))
        for name, cname, compliance in states:
            await add_domain(tx, acme.id, name, cname=cname, compliance=compliance)
        return acme.id

    return in_store(database, add)


def click_tokens(output: str) -> list:
    tokens = [re.match(r"[\w.-]+", part).group().rstrip(".") for part in output.split("/e/")[1:]]
    return [CODEC.read_click(token) for token in tokens]


def test_html_file_is_rewritten_to_stdout(run, tmp_path: Path) -> None:
    email = tmp_path / "mail.html"
    email.write_text('<body><a href="https://a.example/?x=1&amp;y=2">x</a></body>')
    done = run(str(email), "--message", "m-7")
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert out.startswith('<body><a href="https://track.test/e/')
    assert '<img src="http://track.test/o/' in out and out.endswith("</body>")
    (token,) = click_tokens(out)
    assert (token.account_id, token.url, token.message) == (1, "https://a.example/?x=1&y=2", "m-7")


def test_standard_input_as_text_part(run) -> None:
    done = run("-", "--text", stdin=b"Go to https://a.example/x.\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert out.startswith("Go to https://track.test/e/") and out.endswith(".\n")
    assert click_tokens(out)[0].link == "text-1"


def test_txt_extension_means_text_part(run, tmp_path: Path) -> None:
    email = tmp_path / "mail.txt"
    email.write_text("<body> http://a.example/ </body>")
    out = run(str(email)).stdout.decode()
    assert "<img" not in out and "http://track.test/e/" in out


def test_json_prints_the_whole_result(run, tmp_path: Path) -> None:
    email = tmp_path / "mail.html"
    email.write_text('<a href="mailto:x@y.example">m</a>')
    data = json.loads(run(str(email), "--json", "--no-opens").stdout)
    assert data["html"] == '<a href="mailto:x@y.example">m</a>'
    assert data["links"][0]["reason"] == "mailto"


def test_warnings_go_to_stderr(run, tmp_path: Path) -> None:
    email = tmp_path / "mail.html"
    email.write_text('<a href="https://a.example/?u={{id}}">x</a>')
    done = run(str(email), "--no-opens")
    assert done.returncode == 0
    assert done.stdout.decode() == '<a href="https://a.example/?u={{id}}">x</a>'
    assert done.stderr.decode().startswith("tracking-edge: warning: 1 link holds template")


def test_bytes_that_are_not_utf8_come_back_unchanged(run, tmp_path: Path) -> None:
    email = tmp_path / "latin1.html"
    source = '<p>Caf\xe9</p><a href="http://a.example/">x</a>'.encode("latin-1")
    email.write_bytes(source)
    out = run(str(email), "--no-opens").stdout
    assert out.startswith(b"<p>Caf\xe9</p>") and b"http://track.test/e/" in out


def test_output_file(run, tmp_path: Path) -> None:
    email, written = tmp_path / "mail.html", tmp_path / "out.html"
    email.write_text("<body></body>")
    done = run(str(email), "-o", str(written), "--initial-open")
    assert done.stdout == b""
    assert written.read_text().count('<img src="http://track.test/o/') == 2


def test_unknown_domain_is_one_line_error(run, tmp_path: Path) -> None:
    email = tmp_path / "mail.html"
    email.write_text("<body></body>")
    done = run(str(email), "--domain", "nowhere.example")
    assert done.returncode == 1
    assert done.stderr == b"tracking-edge: error: unknown tracking domain: nowhere.example\n"


def test_missing_file_is_one_line_error(run, tmp_path: Path) -> None:
    done = run(str(tmp_path / "missing.html"))
    assert done.returncode == 1
    assert done.stderr.decode().startswith("tracking-edge: error: ")
    assert b"Traceback" not in done.stderr


def test_message_that_is_not_utf8_is_one_line_error(run, tmp_path: Path) -> None:
    email = tmp_path / "mail.html"
    email.write_text("<body></body>")
    done = run(str(email), "--message", b"caf\xe9".decode("utf-8", "surrogateescape"))
    assert done.returncode == 1
    assert done.stderr == b"tracking-edge: error: --message is not valid UTF-8\n"


def test_links_on_any_tracking_domain_of_the_edge_count_as_already_wrapped(
    run, tmp_path: Path
) -> None:
    acme = acme_with_domains(
        tmp_path / "data" / "edge.sqlite3", ("click.acme.example", "valid", "valid")
    )
    wrapped = (
        f"http://click.acme.example/e/{CODEC.sign_click(acme, 'https://a.example/', link='x')}"
    )
    email = tmp_path / "mail.html"
    email.write_text(f'<a href="{wrapped}">x</a>')
    data = json.loads(run(str(email), "--json", "--no-opens").stdout)
    assert data["html"] == f'<a href="{wrapped}">x</a>'
    assert (data["links"][0]["reason"], data["links"][0]["url"]) == (
        "already_wrapped",
        "https://a.example/",
    )


def test_links_on_an_unverified_or_blocked_domain_are_wrapped_with_the_named_one(
    run, tmp_path: Path
) -> None:
    acme = acme_with_domains(
        tmp_path / "data" / "edge.sqlite3",
        ("click.acme.example", "valid", "valid"),
        ("new.acme.example", "pending", "valid"),
        ("bad.acme.example", "valid", "blocked"),
    )
    token = CODEC.sign_click(acme, "https://a.example/", link="x")
    email = tmp_path / "mail.html"
    email.write_text(
        f'<a href="http://new.acme.example/e/{token}">x</a>'
        f'<a href="http://bad.acme.example/e/{token}">x</a>'
    )
    done = run(str(email), "--json", "--no-opens", "--domain", "click.acme.example")
    assert done.returncode == 0, done.stderr
    links = json.loads(done.stdout)["links"]
    assert [(link["wrapped"], link["reason"]) for link in links] == [(True, None), (True, None)]
    assert all(link["tracking_url"].startswith("http://click.acme.example/e/") for link in links)


def test_more_links_than_the_cap_is_one_line_error(run, tmp_path: Path) -> None:
    email = tmp_path / "mail.txt"
    email.write_text("https://a.example/ " * 2_001)
    done = run(str(email))
    assert done.returncode == 1
    assert done.stderr == b"tracking-edge: error: the text part holds more than 2000 links\n"
