"""Admin API fixtures: a live server whose DNS and reachability checks and certificate
provisioner are test doubles the test steers, API keys for accounts, and clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import httpx
import pytest

from admin.domains.dns import CnameCheck
from admin.domains.provisioning import SslInfo
from admin.domains.reachability import ReachCheck
from admin.server import create_app
from edge.config import Settings
from tests.conftest import LiveServer, start_server

CNAME_TARGET = "edge.test"


#: What :meth:`FakeCname.point` records by default: the right target, whichever account asks.
ANY_ACCOUNT = "<the asking account's target>"


class FakeCname:
    """Answers as a DNS zone the test edits: ``point(domain)`` adds the right CNAME for
    whichever account asks (the account-specific rule is tested over real DNS);
    ``point(domain, target)`` a CNAME to ``target``."""

    def __init__(self) -> None:
        self.records: dict[str, str] = {}
        self.timeouts: set[str] = set()
        self.calls: list[str] = []
        self.targets: list[str | None] = []

    def point(self, domain: str, target: str | None = None) -> None:
        self.records[domain] = target or ANY_ACCOUNT

    async def check(self, domain: str, target: str | None = None) -> CnameCheck:
        self.calls.append(domain)
        self.targets.append(target)
        wanted = target or CNAME_TARGET
        if domain in self.timeouts:
            return CnameCheck(False, "DNS resolver timed out after 3.0 s", (domain,), True)
        found = self.records.get(domain)
        if found is None:
            return CnameCheck(False, f"no such name: {domain}", (domain,))
        if found == ANY_ACCOUNT:
            found = wanted
        if found != wanted:
            reason = f"CNAME points to {found} instead of {wanted}"
            return CnameCheck(False, reason, (domain, found))
        return CnameCheck(True, f"CNAME points to {found}", (domain, found))


class FakeReach:
    """Every domain reaches the edge unless listed in ``unreachable`` (a wrong answer) or
    ``timeouts`` (a temporary failure)."""

    def __init__(self) -> None:
        self.unreachable: set[str] = set()
        self.timeouts: set[str] = set()
        self.calls: list[str] = []

    async def check(self, domain: str) -> ReachCheck:
        self.calls.append(domain)
        url = f"http://{domain}:80"
        if domain in self.timeouts:
            return ReachCheck(False, url, "no answer from 192.0.2.1:80 within 3.0 s", True)
        if domain in self.unreachable:
            return ReachCheck(False, url, "answered, but not with this edge's proof")
        return ReachCheck(True, url, "the edge answered")


@dataclass
class RecordingProvisioner:
    """Records calls; ``status`` reports ``provisioning`` once asked to provision."""

    calls: list[tuple] = field(default_factory=list)
    states: dict[int, str] = field(default_factory=dict)

    async def provision(self, domain_id: int, *, force: bool = False) -> None:
        self.calls.append(("provision", domain_id, force))
        self.states[domain_id] = "provisioning"

    async def forget(self, domain_id: int, name: str) -> None:
        self.calls.append(("forget", domain_id, name))
        self.states.pop(domain_id, None)

    async def status(self, domain_id: int) -> SslInfo:
        return SslInfo(self.states.get(domain_id, "unavailable"))


@dataclass
class AdminHarness:
    live: LiveServer
    cname: FakeCname
    reach: FakeReach
    provisioner: RecordingProvisioner

    def key(self, account: str = "acme") -> str:
        return make_key(self.live, account)

    def target(self, account: str = "acme") -> str:
        """``account``'s CNAME target, ``<its label>.edge.test`` (the account is made if new)."""
        services = self.live.app.admin_app.state.services  # type: ignore[union-attr]
        found = self.live.call(lambda: services.accounts.ensure(account))
        return services.domains.target_for(found)

    def client(self, key: str | None, *, bearer: bool = False) -> httpx.Client:
        """A client on the admin host sending ``key`` as SparkPost clients (or as Bearer)."""
        client = self.live.client("admin.test")
        if key is not None:
            client.headers["authorization"] = f"Bearer {key}" if bearer else key
        return client

    def as_account(self, account: str = "acme") -> httpx.Client:
        return self.client(self.key(account))

    def wait_served(self, domain: str, served: bool, timeout: float = 1.0) -> float:
        """Seconds until the server's domain table says ``domain`` is (not) served."""
        import time

        table = self.live.app.runtime.domains
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if (table.served(domain) is not None) == served:
                return time.monotonic() - start
            time.sleep(0.01)
        raise AssertionError(f"{domain} served={served} not reached within {timeout} s")


def make_key(live: LiveServer, account: str) -> str:
    """Create ``account`` if needed on ``live`` and return a new API key for it."""
    services = live.app.admin_app.state.services  # type: ignore[union-attr]

    async def create() -> str:
        acct = await services.accounts.ensure(account)
        return (await services.accounts.create_key(acct)).secret

    return live.call(create)


@pytest.fixture
def admin_settings(settings: Settings) -> Settings:
    return replace(settings, cname_target=CNAME_TARGET, deny_domains=("denied.example",))


@pytest.fixture
def admin(admin_settings: Settings) -> Iterator[AdminHarness]:
    """A live server with steerable checks and a recording provisioner."""
    cname, reach, provisioner = FakeCname(), FakeReach(), RecordingProvisioner()
    app = create_app(admin_settings, cname=cname, reach=reach, provisioner=provisioner)
    live = start_server(app)
    try:
        yield AdminHarness(live, cname, reach, provisioner)
    finally:
        live.stop()


@pytest.fixture
def api_key(live_server: LiveServer) -> Callable[[str], str]:
    """``api_key("acme")``: a fresh key for account ``acme`` on ``live_server``."""
    return lambda account="acme": make_key(live_server, account)
