"""``tracking-edge wrap`` and ``events``; errors are one line and a non-zero status."""

from __future__ import annotations

import json
import time

import pytest

from admin.cli.main import main
from edge.db.sqlite.migrate import migrate
from edge.model.events import StoredEvent
from edge.tokens.codec import TokenCodec
from tests.domain_states import add_domain
from tests.stores import in_store

CODEC = TokenCodec(["cli-key"])


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EDGE_SECRET_KEYS", "cli-key")
    monkeypatch.setenv("EDGE_DEFAULT_DOMAIN", "track.test")
    monkeypatch.setenv("EDGE_ADMIN_HOST", "admin.test")
    migrate(tmp_path / "data" / "edge.sqlite3")
    return tmp_path / "data" / "edge.sqlite3"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def add_account_domain(
    db_path, domain: str, account: str, cname_status: str = "valid", secure: bool = False
) -> int:
    """Add ``domain`` (compliance valid) to ``account``, created if new; return the account id."""

    async def add(tx) -> int:
        owner = await tx.accounts.ensure(account, now=int(time.time()))
        await add_domain(
            tx, owner.id, domain, cname=cname_status, compliance="valid", secure=secure
        )
        return owner.id

    return in_store(db_path, add)


def test_wrap_prints_a_click_url_on_the_default_domain_for_the_builtin_account(env, capsys):
    code, out, err = run(capsys, "wrap", "http://example.com/a?b=1&c=2", "--message", "m1")
    assert (code, err) == (0, "")
    prefix = "http://track.test/e/"
    assert out.startswith(prefix) and out.endswith("\n")
    token = CODEC.read_click(out.strip()[len(prefix) :])
    assert (token.account_id, token.url, token.message) == (1, "http://example.com/a?b=1&c=2", "m1")


def test_wrap_never_downgrades_an_https_link(env, capsys):
    _, out, _ = run(capsys, "wrap", "https://example.com/")
    assert out.startswith("https://track.test/e/")


def test_wrap_signs_for_the_account_that_owns_the_domain(env, capsys):
    owner = add_account_domain(env, "go.brand.com", "brand", secure=True)
    _, out, _ = run(capsys, "wrap", "http://example.com/", "--domain", "GO.Brand.com.")
    assert out.startswith("https://go.brand.com/e/")  # a secure domain links over https
    assert CODEC.read_click(out.strip().split("/e/")[1]).account_id == owner == 2


def test_wrap_open_prints_the_pixel_url(env, capsys, monkeypatch):
    monkeypatch.setenv("EDGE_PUBLIC_HTTP_PORT", "8000")
    _, out, _ = run(capsys, "wrap", "--open", "--message", "m1")
    assert out.startswith("http://track.test:8000/o/")
    assert CODEC.read_open(out.strip().split("/o/")[1]).message == "m1"


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (("wrap", "javascript:alert(1)"), "only http and https URLs can be tracked"),
        (("wrap",), "a URL is needed (or --open for the pixel URL)"),
        (
            ("wrap", "https://e.com/", "--domain", "nope.example"),
            "unknown tracking domain: nope.example",
        ),
        (
            ("wrap", "https://e.com/", "--domain", "pending.example"),
            "tracking domain pending.example is not verified or is blocked",
        ),
        (("wrap", "https://e.com/", "--domain", "bad domain"), "invalid domain: 'bad domain'"),
        (("events", "--since", "yesterday"), "--since: not an ISO 8601 time: 'yesterday'"),
    ],
)
def test_errors_are_one_line_and_exit_status_1(env, capsys, argv, error):
    add_account_domain(env, "pending.example", "other", cname_status="pending")
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err == f"tracking-edge: error: {error}\n"


def test_bad_configuration_is_one_line(env, capsys, monkeypatch):
    monkeypatch.setenv("EDGE_PUBLIC_HTTP_PORT", "eighty")
    code, _, err = run(capsys, "wrap", "https://e.com/")
    assert (code, err) == (
        1,
        "tracking-edge: error: EDGE_PUBLIC_HTTP_PORT must be an integer, got 'eighty'\n",
    )


def test_events_prints_ndjson_filtered_by_time_and_type(env, capsys):
    events = [
        StoredEvent(id_, type_, ts_ms, 1, "track.test", url=url)
        for id_, type_, ts_ms, url in (
            ("a", "click", 1_790_000_000_000, "https://old/"),
            ("b", "open", 1_800_000_000_000, None),
            ("c", "initial_open", 1_800_000_000_001, None),
            ("d", "click", 1_800_000_000_002, "https://new/"),
        )
    ]
    stored = [(*e.row(), e.verdict, e.rule) for e in events]  # STORED_FIELDS order
    in_store(env, lambda tx: tx.event_writer.insert(stored))
    _, out, _ = run(capsys, "events", "--since", "2026-11-01")
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["b", "c", "d"]
    _, out, _ = run(capsys, "events", "--type", "open")
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["open", "initial_open"]
    _, out, _ = run(capsys, "events", "--type", "click", "--since", "2026-11-15T01:00:00Z")
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows == [
        {
            "id": "d", "type": "click", "ts_ms": 1_800_000_000_002, "account_id": 1,
            "domain": "track.test", "message": None, "recipient": None, "link": None,
            "url": "https://new/", "client_ip": None, "user_agent": None, "method": "GET",
            "prefetch": False, "time": "2027-01-15T08:00:00.002Z", "verdict": "human",
            "rule": "default",
        }
    ]  # fmt: skip
