"""Three nodes on one PostgreSQL behind nginx: shared domains and certificates, and a node
killed under load without a click lost or stored twice.

One scenario, each step asserted, every wait a condition with a deadline:

1. three ``tracking-edge serve --https-port`` processes start together on a new database
   (one migration, one signing key, kept in the database), each with its own data directory
   (its spool) and ``EDGE_NODE_ID``;
2. a domain created and verified through one node (real DNS answers, the reachability
   check through nginx) is served by the other two within 1 s;
3. Pebble validates HTTP-01 through nginx (the HTTPS proof goes through it too), and every
   node presents the certificate by SNI: HTTPS clicks through nginx, which passes each TLS
   connection to the next node, are answered by all three;
4. under a load of clicks through nginx, one node's ingester is stopped (its spool fills),
   then every process of that node is killed with SIGKILL: every click is still answered
   (nginx retries the dead node); the node restarts on its data directory, stores its spool
   and is back in rotation;
5. the events stored are exactly the redirects answered, one each, and the stats API's
   click totals equal their number.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from ssl import SSLError
from typing import Any

import httpx
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from edge.db.factory import store_for
from edge.serving.keys import signing_keys
from edge.tokens.codec import TokenCodec
from tests.conftest import cli_command
from tests.fixtures_acme import Pebble
from tests.fixtures_cluster import (
    ADMIN_HOST,
    BROWSER,
    PASSTHROUGH_ADDRESS,
    ClickLoad,
    Cluster,
    Node,
    await_condition,
    stopped,
)
from tests.fixtures_dns import DNSServer
from tests.fixtures_https import client_context, served_certificate
from tests.stores import every_event, in_store

DOMAIN = "track.brand.test"
#: The address HTTPS clicks come from: nginx passes TLS through and names it in a PROXY
#: protocol header, so that the nodes store it rather than nginx's.
HTTPS_CLIENT = "127.0.0.5"
LANDING = "https://shop.example/landing?id=7"
DOMAINS = "/api/v1/customer/tracking-domains"
#: The message of the clicks that check a node serves the domain (the load's are m-0, m-1...).
PROBE = "probe"


def cli(cluster: Cluster, *args: str) -> str:
    """``tracking-edge ARGS`` on the cluster's database, as an operator's machine runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env |= {"EDGE_DATABASE_URL": cluster.database_url, "EDGE_DATA_DIR": str(cluster.directory)}
    done = subprocess.run([*cli_command(), *args], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def click_path(codec: TokenCodec, account: int, message: str) -> str:
    return "/e/" + codec.sign_click(account, LANDING, message=message)


def stored_messages(cluster: Cluster) -> Counter[str | None]:
    return Counter(e.message for e in in_store(cluster.settings(), every_event, write=False))


def around_today() -> dict[str, str]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "from": f"{today - timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}",
        "to": f"{today + timedelta(days=2):%Y-%m-%dT%H:%M:%SZ}",
    }


def shared_key_and_account(cluster: Cluster) -> tuple[str, int, TokenCodec]:
    """The nodes share one signing key, from the database (none in a data directory); an API
    key is made by the command line on the shared store. Returns it, its account and the
    codec."""
    assert not any((node.data_dir / "secret_keys").exists() for node in cluster.nodes)
    key = cli(cluster, "keys", "create", "--account", "acme").strip()

    async def shared() -> tuple[int, list[str]]:
        async with store_for(cluster.settings()) as store:
            async with store.reading() as db:
                account = await db.accounts.by_name("acme")
            assert account is not None
            return account.id, await signing_keys(cluster.settings(), store)

    account, keys = asyncio.run(shared())
    assert len(keys) == 1
    return key, account, TokenCodec(keys)


def served_within(node: Node, path: str, since: float) -> float:
    """Seconds from ``since`` until ``node`` redirects ``path`` on the domain (one redirect)."""

    def redirects() -> bool:
        with node.client(DOMAIN) as client:
            response = client.get(path)
        if response.status_code == 302:
            assert response.headers["location"] == LANDING
            return True
        assert response.status_code == 404, response.text
        return False

    await_condition(f"{node.name} serves {DOMAIN}", redirects, 5)
    return time.monotonic() - since


def verify_through_one_node(
    cluster: Cluster, dns_server: DNSServer, key: str, probe: str, redirected: Counter[str]
) -> int:
    """Create and verify the domain through the first node; every node serves it within 1 s
    of the answer. Returns the domain's id."""
    first = cluster.nodes[0]
    with first.client(ADMIN_HOST, authorization=key) as admin:
        created = admin.post(DOMAINS, json={"domain": DOMAIN})
        assert created.status_code == 201, created.text
        domain_id: int = created.json()["data"]["id"]
        for node in cluster.nodes:
            with node.client(DOMAIN) as client:
                assert client.get(probe).status_code == 404
        # The account's own target, as the API tells the customer.
        dns_server.set_cname(DOMAIN, created.json()["data"]["dns_record"]["target"])
        verified = admin.post(f"{DOMAINS}/{domain_id}/verify")
    since = time.monotonic()
    assert verified.status_code == 200, verified.text
    body = verified.json()["data"]
    assert (body["verified"], body["ssl_status"]) == (True, "provisioning")
    for node in cluster.nodes:
        assert served_within(node, probe, since) <= 1.0
        redirected[PROBE] += 1
    return domain_id


def https_click(cluster: Cluster, path: str, root_pem: str) -> httpx.Response:
    """``GET https://DOMAIN<path>`` from a browser at ``HTTPS_CLIENT`` through nginx's TLS
    port (a connection of its own), verified against ``root_pem`` for the name."""
    transport = httpx.HTTPTransport(verify=client_context(root_pem), local_address=HTTPS_CLIENT)
    with httpx.Client(transport=transport, follow_redirects=False) as client:
        return client.get(
            f"https://127.0.0.1:{cluster.nginx.https_port}{path}",
            headers={"host": DOMAIN, "user-agent": BROWSER},
            extensions={"sni_hostname": DOMAIN},
        )


def certificate_on_every_node(
    cluster: Cluster, pebble: Pebble, key: str, domain_id: int, probe: str,
    redirected: Counter[str],
) -> None:  # fmt: skip
    """Pebble validated through nginx; every node presents the one certificate by SNI, and
    HTTPS clicks through nginx reach each node in turn."""

    def issued() -> dict[str, Any] | None:
        with cluster.nodes[0].client(ADMIN_HOST, authorization=key) as admin:
            ssl = admin.get(f"{DOMAINS}/{domain_id}/ssl").json()["data"]
        assert ssl["status"] in ("provisioning", "active"), json.dumps(ssl)
        return ssl if ssl["status"] == "active" else None

    ssl = await_condition("the certificate is issued and proven", issued, 60)
    assert ssl["issuer"].startswith("Pebble Intermediate CA")
    # Nothing but nginx listens on Pebble's HTTP-01 port: the answers came through it.
    challenges = [
        line for line in cluster.nginx.access_log() if "/.well-known/acme-challenge/" in line[0]
    ]
    assert challenges and all(line[1] == "200" for line in challenges), challenges

    root_pem = pebble.root_pem()
    root = x509.load_pem_x509_certificate(root_pem.encode())
    intermediate = x509.load_pem_x509_certificate(pebble.intermediate_pem().encode())
    verifier = PolicyBuilder().store(Store([root])).build_server_verifier(x509.DNSName(DOMAIN))
    serials = set()
    for node in cluster.nodes:  # each within a poll of the certificate's arrival

        def presented(node: Node = node) -> x509.Certificate | None:
            try:  # straight to the node, as nginx connects: with a PROXY protocol header
                leaf = served_certificate(node.https_port, DOMAIN, before=b"PROXY UNKNOWN\r\n")
            except SSLError:  # refused: this node has not loaded the certificate yet
                return None
            return leaf if leaf.issuer == intermediate.subject else None

        leaf = await_condition(f"{node.name} presents the certificate", presented, 5)
        verifier.verify(leaf, [intermediate])
        serials.add(leaf.serial_number)
    assert len(serials) == 1

    # Through nginx: one TLS connection per node, passed round-robin, each verified.
    before = len(cluster.nginx.tls_log())
    for _ in cluster.nodes:
        response = https_click(cluster, probe, root_pem)
        assert (response.status_code, response.headers["location"]) == (302, LANDING)
        redirected[PROBE] += 1

    def logged() -> list[list[str]] | None:  # when each connection has closed
        log = cluster.nginx.tls_log()[before:]
        return log if len(log) == len(cluster.nodes) else None

    passed = await_condition("nginx logs the TLS connections", logged)
    assert sorted(passed) == sorted([DOMAIN, n.https_upstream, "200"] for n in cluster.nodes)


def test_three_nodes_share_domains_and_certificates_and_lose_no_click_when_one_is_killed(
    make_cluster: Callable[[int], Cluster], dns_server: DNSServer, pebble: Pebble
) -> None:
    started = time.monotonic()
    cluster = make_cluster(3)
    a, b, c = cluster.nodes
    key, account, codec = shared_key_and_account(cluster)
    redirected: Counter[str] = Counter()
    probe = click_path(codec, account, PROBE)
    domain_id = verify_through_one_node(cluster, dns_server, key, probe, redirected)
    certificate_on_every_node(cluster, pebble, key, domain_id, probe, redirected)
    set_up = time.monotonic() - started

    load = ClickLoad(cluster.balancer_url, DOMAIN, lambda n: click_path(codec, account, f"m-{n}"))
    load.start()
    try:
        for node in cluster.nodes:  # round-robin
            load.await_answers(f"{node.name} answers through nginx", 5, upstream=node.upstream)

        # c's ingester stops: the clicks c answers from now on wait in its spool.
        ingester = c.ingester_pid()
        os.kill(ingester, signal.SIGSTOP)
        await_condition("c's ingester is stopped", lambda: stopped(ingester))
        paused = time.monotonic()
        load.await_answers(
            "c answers with its ingester stopped", 20, upstream=c.upstream, sent_after=paused
        )

        c.kill()
        killed = time.monotonic()
        only_in_spool = {f"m-{n}" for n in load.answered_by(c.upstream, sent_after=paused)}
        assert len(only_in_spool) >= 20
        assert not only_in_spool & set(stored_messages(cluster))
        # Clicks go on: a and b answer them, nginx retrying what it sent to c.
        load.await_answers("clicks after the kill", len(load.snapshot()) + 200)
        so_far = load.snapshot().values()
        assert {x.upstream for x in so_far if x.sent > killed} == {a.upstream, b.upstream}
        assert any(x.retried for x in so_far)

        c.start()
        c.wait_ready()
        restarted = time.monotonic()
        load.await_answers("c is back in rotation", 5, upstream=c.upstream, sent_after=restarted)
    finally:
        load.stop()

    answers = load.snapshot()
    assert load.errors == {}
    assert Counter((x.status, x.location) for x in answers.values()) == {
        (302, LANDING): len(answers)
    }
    for node in cluster.nodes:

        def spool_stored(node: Node = node) -> bool:
            backlog: int | None = node.health().json()["spool_backlog_bytes"]
            return backlog == 0

        await_condition(f"{node.name} stored its spool", spool_stored, 30)
    redirected.update(f"m-{n}" for n in answers)
    # A click c had spooled when it was killed, before its answer left, is one nginx retried
    # on another node: stored by both (at least once; its sender got one answer).
    extra = stored_messages(cluster) - redirected
    retried_from_c = {f"m-{n}" for n, x in answers.items() if x.retried and x.first == c.upstream}
    assert (set(extra) <= retried_from_c, set(extra.values()) <= {1}) == (True, True), extra
    redirected.update(extra)
    assert stored_messages(cluster) == redirected
    # The HTTPS probe clicks (one per node) are stored with the browser's address, not nginx's.
    probes = in_store(cluster.settings(), every_event, write=False)
    https = [e.client_ip for e in probes if e.message == PROBE and e.client_ip == HTTPS_CLIENT]
    assert (len(https), PASSTHROUGH_ADDRESS in {e.client_ip for e in probes}) == (
        len(cluster.nodes),
        False,
    )

    with cluster.balancer(ADMIN_HOST, authorization=key) as admin:
        export = admin.get("/api/v1/engagement/events/export", params=around_today())
        stats = admin.get("/api/v1/engagement/stats", params={**around_today(), "domain": DOMAIN})
    assert (export.status_code, stats.status_code) == (200, 200), (export.text, stats.text)
    exported = [json.loads(line) for line in export.text.splitlines()]
    assert Counter(e["message"] for e in exported) == redirected
    assert {(e["type"], e["verdict"], e["domain"]) for e in exported} == {
        ("click", "human", DOMAIN)
    }
    totals = stats.json()["results"]["totals"]
    # Every load click is a message of its own; the probes are one message.
    assert (totals["clicks"], totals["unique_clicks"]) == (
        redirected.total(),
        len(answers) + 1,
    )
    print(
        f"\ncluster test: {time.monotonic() - started:.1f} s ({set_up:.1f} s to start and "
        f"certify), {len(answers)} clicks through nginx, {len(only_in_spool)} of them only "
        "in the killed node's spool"
    )
