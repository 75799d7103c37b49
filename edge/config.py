"""Settings read from environment variables, each with a working default.

The README's configuration table is the user-facing copy of this module: keep them in step.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def _hosts(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated host names, normalised; one that is not a host name is an error."""
    from edge.hosts import normalise_host

    hosts = []
    for part in _list(env, name):
        host = normalise_host(part)
        if not host:
            raise ConfigError(f"{name}: {part!r} is not a valid host name")
        hosts.append(host)
    return tuple(hosts)


def _host(env: Mapping[str, str], name: str) -> str:
    """One host name, normalised; empty when unset."""
    hosts = _hosts(env, name)
    if len(hosts) > 1:
        raise ConfigError(f"{name} must be one host name, got {env[name]!r}")
    return hosts[0] if hosts else ""


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """CIDR networks; unset: loopback only; ``none``: no network at all."""
    raw = env.get(name, "").strip()
    if not raw:
        return ("127.0.0.0/8", "::1/128")
    if raw.lower() == "none":
        return ()
    try:
        return tuple(str(ipaddress.ip_network(n, strict=False)) for n in _list(env, name))
    except ValueError:
        raise ConfigError(f"{name} must be CIDR networks or none, got {raw!r}") from None


def _cidrs(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    try:
        return tuple(str(ipaddress.ip_network(n, strict=False)) for n in _list(env, name))
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated CIDR networks") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    """Everything the server reads from its environment.

    Construct with :meth:`from_env`; tests build one directly with the fields they need.
    """

    data_dir: Path = Path("data")
    #: Signing secrets, newest first. Empty means: use (or create) ``<data_dir>/secret_keys``.
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    #: The platform's own tracking domain; it serves tokens of every account.
    default_domain: str = "127.0.0.1"
    #: Whether links on the default domain use https.
    default_secure: bool = False
    admin_host: str = "localhost"
    #: Ports written into tracking URLs (omitted when they are the scheme's default).
    public_http_port: int = 80
    public_https_port: int = 443
    #: How often each worker looks for domain-table changes made by other processes.
    domain_poll_interval: float = 0.25
    #: How long the ingester waits on a locked database before trying again later (the
    #: events wait in the spool meanwhile); background jobs hold the write lock for up to a
    #: few hundred milliseconds.
    db_busy_timeout: float = 1.0
    #: Largest number of events committed in one transaction.
    event_batch_size: int = 5000
    #: Who moves events from the spool into the database (edge/ingester.py). ``inline``: the
    #: serving process that holds the ingester lock, as a background task; ``separate``: a
    #: process of its own (``tracking-edge serve`` starts one and sets this for its workers).
    ingester: str = "inline"
    #: Niceness the separate ingester process adds to itself: when the CPU is saturated it
    #: goes to answering requests, and the spool absorbs the events until the load drops.
    ingest_nice: int = 19
    #: The host name customers point their tracking domain's CNAME at; empty means
    #: ``default_domain`` (filled in by ``__post_init__``).
    cname_target: str = ""
    #: Resolvers for verification, as ``host`` or ``host:port``; empty: the system resolver.
    dns_nameservers: tuple[str, ...] = ()
    dns_timeout: float = 3.0
    #: Port the reachability check fetches ``http://<domain>:<port>/.well-known/...`` on.
    verify_port: int = 80
    #: Seconds between re-checks of verified domains' CNAMEs.
    recheck_interval: float = 86400.0
    #: Operator-restricted domains (and their subdomains), refused with SparkPost code 7000.
    deny_domains: tuple[str, ...] = ()
    #: Networks, besides globally routable addresses, the reachability check may connect to
    #: (an SSRF guard: see ``admin/reachability.py``). ``EDGE_VERIFY_ALLOW_NETWORKS=none``: none.
    verify_allow_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    #: ``builtin``: this server issues certificates (ACME, or the local CA) and serves TLS;
    #: ``external``: TLS is terminated in front of it (Caddy's on-demand TLS, a balancer).
    tls_mode: str = "builtin"
    #: ACME directory URL; empty means the local certificate authority in ``data_dir``.
    acme_directory: str = ""
    acme_email: str = ""
    #: External account binding, for CAs that require it (key id, base64url HMAC key).
    acme_eab_kid: str = ""
    acme_eab_hmac: str = field(default="", repr=False)
    #: CA bundle for the ACME directory's own HTTPS (a test CA's root); empty: system roots.
    acme_ca_bundle: str = ""
    #: Port of the HTTPS request that proves a new certificate is served before ``active``.
    https_verify_port: int = 443
    #: Renew certificates this many days before they expire.
    ssl_renew_days: float = 30.0
    #: Failed issuance is retried after ``base * 2**(attempts-1)`` seconds, at most ``max``.
    ssl_retry_base: float = 60.0
    ssl_retry_max: float = 21600.0
    #: Seconds between looks for due renewals and retries.
    ssl_check_interval: float = 60.0
    #: Engagement data (issue 6). Peers whose ``X-Forwarded-For`` is believed (CIDRs).
    trusted_proxies: tuple[str, ...] = ()
    #: A directory of extra classification rule files (``*.txt``), read after the shipped ones.
    classify_rules_dir: Path | None = None
    #: Behaviour rules: a click this soon after the first open of its message and recipient,
    #: or two links of one message clicked this close from one address, is a scanner's.
    fast_click_seconds: float = 2.0
    burst_seconds: float = 2.0
    #: Seconds between roll-up passes (stats, unique counts and the webhook queue).
    rollup_interval: float = 1.0
    #: Days raw events are kept (0: forever; roll-ups are always kept), checked every interval.
    event_retention_days: float = 90.0
    retention_interval: float = 3600.0
    #: HTTP connections (``edge/serving/connections.py``): seconds from a request head's first
    #: byte to its end (else 408), bytes in a request target (else 414) and in a whole head
    #: (else 431), and connections per worker (0: three quarters of the open-file limit;
    #: beyond it a new connection closes the longest idle one).
    http_head_timeout: float = 10.0
    http_max_request_line: int = 16384
    http_max_head: int = 65536
    http_max_connections: int = 0
    #: Webhooks: request timeout, first retry delay (doubling), and how long events are retried.
    webhook_timeout: float = 10.0
    webhook_backoff_base: float = 5.0
    webhook_max_age: float = 86400.0

    def __post_init__(self) -> None:
        if not self.cname_target:
            object.__setattr__(self, "cname_target", self.default_domain)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "edge.sqlite3"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        from edge.hosts import normalise_host

        default_domain = normalise_host(env.get("EDGE_DEFAULT_DOMAIN", "127.0.0.1"))
        admin_host = normalise_host(env.get("EDGE_ADMIN_HOST", "localhost"))
        if not default_domain:
            raise ConfigError("EDGE_DEFAULT_DOMAIN is not a valid host name")
        if not admin_host:
            raise ConfigError("EDGE_ADMIN_HOST is not a valid host name")
        if admin_host == default_domain:
            raise ConfigError("EDGE_ADMIN_HOST and EDGE_DEFAULT_DOMAIN must differ")
        return cls(
            data_dir=Path(env.get("EDGE_DATA_DIR", "data")),
            secret_keys=_list(env, "EDGE_SECRET_KEYS"),
            default_domain=default_domain,
            default_secure=_bool(env, "EDGE_DEFAULT_SECURE", False),
            admin_host=admin_host,
            public_http_port=_int(env, "EDGE_PUBLIC_HTTP_PORT", 80),
            public_https_port=_int(env, "EDGE_PUBLIC_HTTPS_PORT", 443),
            domain_poll_interval=_float(env, "EDGE_DOMAIN_POLL_INTERVAL", 0.25),
            db_busy_timeout=_float(env, "EDGE_DB_BUSY_TIMEOUT", 1.0),
            event_batch_size=_int(env, "EDGE_EVENT_BATCH_SIZE", 5000),
            ingester=_choice(env, "EDGE_INGESTER", ("inline", "separate")),
            ingest_nice=_int(env, "EDGE_INGEST_NICE", 19),
            cname_target=_host(env, "EDGE_CNAME_TARGET") or default_domain,
            dns_nameservers=_list(env, "EDGE_DNS_NAMESERVERS"),
            dns_timeout=_float(env, "EDGE_DNS_TIMEOUT", 3.0),
            verify_port=_int(env, "EDGE_VERIFY_PORT", 80),
            recheck_interval=_float(env, "EDGE_RECHECK_INTERVAL", 86400.0),
            deny_domains=_hosts(env, "EDGE_DENY_DOMAINS"),
            verify_allow_networks=_networks(env, "EDGE_VERIFY_ALLOW_NETWORKS"),
            tls_mode=_choice(env, "EDGE_TLS", ("builtin", "external")),
            acme_directory=env.get("EDGE_ACME_DIRECTORY", "").strip(),
            acme_email=env.get("EDGE_ACME_EMAIL", "").strip(),
            acme_eab_kid=env.get("EDGE_ACME_EAB_KID", "").strip(),
            acme_eab_hmac=env.get("EDGE_ACME_EAB_HMAC", "").strip(),
            acme_ca_bundle=env.get("EDGE_ACME_CA_BUNDLE", "").strip(),
            https_verify_port=_int(
                env, "EDGE_HTTPS_VERIFY_PORT", _int(env, "EDGE_PUBLIC_HTTPS_PORT", 443)
            ),
            ssl_renew_days=_float(env, "EDGE_SSL_RENEW_DAYS", 30.0),
            ssl_retry_base=_float(env, "EDGE_SSL_RETRY_BASE", 60.0),
            ssl_retry_max=_float(env, "EDGE_SSL_RETRY_MAX", 21600.0),
            ssl_check_interval=_float(env, "EDGE_SSL_CHECK_INTERVAL", 60.0),
            trusted_proxies=_cidrs(env, "EDGE_TRUSTED_PROXIES"),
            classify_rules_dir=Path(env["EDGE_CLASSIFY_RULES_DIR"])
            if env.get("EDGE_CLASSIFY_RULES_DIR", "").strip()
            else None,
            fast_click_seconds=_float(env, "EDGE_FAST_CLICK_SECONDS", 2.0),
            burst_seconds=_float(env, "EDGE_BURST_SECONDS", 2.0),
            rollup_interval=_float(env, "EDGE_ROLLUP_INTERVAL", 1.0),
            event_retention_days=_float(env, "EDGE_EVENT_RETENTION_DAYS", 90.0),
            retention_interval=_float(env, "EDGE_RETENTION_INTERVAL", 3600.0),
            http_head_timeout=_float(env, "EDGE_HTTP_HEAD_TIMEOUT", 10.0),
            http_max_request_line=_int(env, "EDGE_HTTP_MAX_REQUEST_LINE", 16384),
            http_max_head=_int(env, "EDGE_HTTP_MAX_HEAD", 65536),
            http_max_connections=_int(env, "EDGE_HTTP_MAX_CONNECTIONS", 0),
            webhook_timeout=_float(env, "EDGE_WEBHOOK_TIMEOUT", 10.0),
            webhook_backoff_base=_float(env, "EDGE_WEBHOOK_BACKOFF_BASE", 5.0),
            webhook_max_age=_float(env, "EDGE_WEBHOOK_MAX_AGE", 86400.0),
        )
