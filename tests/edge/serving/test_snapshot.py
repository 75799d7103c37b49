"""A node's saved copies: what it serves from when it starts while its database is down."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import stat
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from admin.ssl.local_ca import LocalCA
from edge.config import Settings
from edge.db.postgres.store import PostgresStore
from edge.serving.keys import NodeKeys
from edge.serving.snapshot import Snapshot
from edge.tokens.codec import TokenCodec
from tests.conftest import SECRET, cli_command, free_port, start_server_process
from tests.fixtures_cluster import await_condition
from tests.fixtures_https import add_domain, put_certificate, served_certificate
from tests.postgres import Relay
from tests.stores import every_event, in_store

DOMAIN = "click.brand.test"


# -- the files ------------------------------------------------------------------------------


def test_a_copy_saved_is_read_back(tmp_path):
    Snapshot(tmp_path / "snapshot", "domains").save([{"domain": "a.test", "served": True}])
    assert Snapshot(tmp_path / "snapshot", "domains").load() == [
        {"domain": "a.test", "served": True}
    ]


def test_copies_are_private_to_the_owner(tmp_path):
    saved = Snapshot(tmp_path / "snapshot", "signing-keys")
    saved.save(["secret"])
    assert stat.S_IMODE(os.stat(tmp_path / "snapshot").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(saved.path).st_mode) == 0o600


def test_no_copy_loads_as_none(tmp_path):
    assert Snapshot(tmp_path, "domains").load() is None
    assert Snapshot(tmp_path, "domains").saved_at is None


def test_an_unreadable_copy_loads_as_none_and_is_logged(tmp_path, caplog):
    (tmp_path / "domains.json").write_text('[{"domain": "a.te')  # cut short: a full disk
    with caplog.at_level(logging.ERROR, "edge.snapshot"):
        assert Snapshot(tmp_path, "domains").load() is None
    assert "could not read" in caplog.text


def test_a_copy_is_replaced_whole_and_leaves_no_temporary_file(tmp_path):
    saved = Snapshot(tmp_path, "domains")
    saved.save([1])
    saved.save([2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["domains.json"]
    assert Snapshot(tmp_path, "domains").load() == [2]


def test_keys_given_in_the_environment_are_never_saved(tmp_path, pg_url):
    settings = Settings(data_dir=tmp_path, database_url=pg_url, secret_keys=("given",))
    codec = TokenCodec(["placeholder"])

    async def load() -> None:
        async with PostgresStore(pg_url, node="a") as store:
            await NodeKeys(settings, store, codec).load()

    asyncio.run(load())
    assert not (tmp_path / "snapshot").exists()
    assert codec.read_click(TokenCodec(["given"]).sign_click(1, "https://example.com/")).url == (
        "https://example.com/"
    )


# -- a node started while its database is down ----------------------------------------------


@pytest.fixture
def relay(pg_url: str) -> Iterator[Relay]:
    """The test's database, reached through a relay the test can cut."""
    relay = Relay(pg_url, free_port())
    relay.restore()
    yield relay
    relay.close()


def node_env(relay: Relay) -> dict[str, str | None]:
    """A cluster node's: the database through the relay, and the cluster's own signing key."""
    return {"EDGE_DATABASE_URL": relay.url, "EDGE_NODE_ID": "a", "EDGE_SECRET_KEYS": None}


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == -signal.SIGTERM  # it ends as the signal would have ended it


def test_a_node_restarted_while_its_database_is_down_answers_the_links_already_sent(
    request, tmp_path, pg_url, relay
):
    reader = Settings(data_dir=tmp_path / "reader", database_url=pg_url, node_id="reader")
    add_domain(reader, DOMAIN)
    issued = LocalCA(tmp_path / "ca").issue_now(DOMAIN)
    serial = put_certificate(reader, DOMAIN, issued.chain_pem, issued.key_pem)
    data, port, https_port = tmp_path / "node", free_port(), free_port()
    node = start_server_process(data, port, https_port=https_port, env=node_env(relay))
    # The cluster's generated key, as every node and the command line read it.
    keys = in_store(reader, lambda tx: tx.signing_keys.ensure("unused"))
    link = TokenCodec(keys).sign_click(1, "https://example.com/sale")
    click = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"host": DOMAIN})
    request.addfinalizer(click.close)
    await_condition("the domain is served", lambda: click.get(f"/e/{link}").status_code == 302)
    stop(node)

    relay.cut()
    node = start_server_process(data, port, https_port=https_port, env=node_env(relay))
    try:
        answer = click.get(f"/e/{link}")
        assert (answer.status_code, answer.headers["location"]) == (
            302,
            "https://example.com/sale",
        )
        assert answer.headers["cache-control"] == "no-store"
        assert format(served_certificate(https_port, DOMAIN).serial_number, "x") == serial
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"host": "admin.test"})
        assert (health.status_code, health.json()["status"], health.json()["database"]) == (
            200,
            "degraded",
            "unavailable",
        )

        relay.restore()  # the clicks of both runs are stored, once each
        clicks = await_condition(
            "the clicks are stored",
            lambda: [e for e in in_store(reader, every_event, write=False) if e.type == "click"]
            if len(in_store(reader, every_event, write=False)) >= 2
            else None,
            timeout=30,
        )
        assert [(e.domain, e.url) for e in clicks] == [(DOMAIN, "https://example.com/sale")] * 2
    finally:
        stop(node)


def test_a_node_that_never_reached_its_database_does_not_start(tmp_path, relay):
    relay.cut()
    env = {
        **os.environ,
        "EDGE_DATA_DIR": str(tmp_path / "node"),
        "EDGE_DATABASE_URL": relay.url,
        "EDGE_SECRET_KEYS": SECRET,
    }
    done = subprocess.run(
        [*cli_command(), "serve", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("tracking-edge: error: ")
    assert len(done.stderr.strip().splitlines()) == 1
