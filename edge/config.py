"""Settings read from environment variables, each with a working default.

Each setting is declared once, as a field of :class:`Settings` made by :func:`setting`: its
variable, default, parser and description (the README's wording). The dataclass takes its
defaults from there and :meth:`Settings.from_env` its parsing. The README's configuration
table lists the same declarations in the same order; tests/edge/test_config.py holds the two
together. An unset or blank variable means the default.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: Reads one variable's value (its name first, for the error message); raises ConfigError.
Parser = Callable[[str, str], T]


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Setting(Generic[T]):
    """How one environment variable is read, and what it means."""

    env: str
    default: T
    parse: Parser[T]
    #: The README's description (markdown).
    doc: str
    #: What an empty default stands for, in the README's words ("generated"); "" for none.
    unset: str = ""
    #: A field whose value this one takes while it is left at ``default``.
    same_as: str = ""


def setting(
    env: str,
    default: T,
    parse: Parser[T],
    doc: str,
    *,
    unset: str = "",
    same_as: str = "",
    secret: bool = False,
) -> T:
    """A :class:`Settings` field declared by ``env``; ``secret`` keeps it out of ``repr``."""
    declared = Setting(env, default, parse, doc, unset, same_as)
    return field(default=default, repr=not secret, metadata={"setting": declared})


def _text(name: str, raw: str) -> str:
    return raw.strip()


def _path(name: str, raw: str) -> Path:
    return Path(raw.strip())


def _int(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw.strip()!r}") from None


def _port(name: str, raw: str) -> int:
    port = _int(name, raw)
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name} must be a port from 1 to 65535, got {port}")
    return port


def _float(name: str, raw: str) -> float:
    try:
        return float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw.strip()!r}") from None


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _database_url(name: str, raw: str) -> str:
    url = raw.strip()
    if not url.startswith(("postgresql://", "postgres://")):
        # The value may hold a password: never repeated in the message.
        raise ConfigError(f"{name} must be a postgresql:// URL")
    return url


def _node_id(name: str, raw: str) -> str:
    node = raw.strip()
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", node):
        raise ConfigError(f"{name} must be 1 to 64 letters, digits, '.', '_' or '-', got {node!r}")
    return node


def _choice(*choices: str) -> Parser[str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    return parse


def _list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _host_name(name: str, raw: str) -> str:
    """One host name (or IP literal), normalised."""
    from edge.hosts import normalise_host

    host = normalise_host(raw)
    if not host:
        raise ConfigError(f"{name} is not a valid host name")
    return host


def _hosts(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated host names, normalised; one that is not a host name is an error."""
    from edge.hosts import normalise_host

    hosts = []
    for part in _list(name, raw):
        host = normalise_host(part)
        if not host:
            raise ConfigError(f"{name}: {part!r} is not a valid host name")
        hosts.append(host)
    return tuple(hosts)


def _host(name: str, raw: str) -> str:
    """At most one host name, normalised (the list rule, so a stray comma is forgiven)."""
    hosts = _hosts(name, raw)
    if len(hosts) > 1:
        raise ConfigError(f"{name} must be one host name, got {raw!r}")
    return hosts[0] if hosts else ""


def _cidrs(name: str, raw: str) -> tuple[str, ...]:
    try:
        return tuple(str(ipaddress.ip_network(n, strict=False)) for n in _list(name, raw))
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated CIDR networks") from None


def _networks(name: str, raw: str) -> tuple[str, ...]:
    """CIDR networks, or ``none`` for no network at all."""
    if raw.strip().lower() == "none":
        return ()
    try:
        return tuple(str(ipaddress.ip_network(n, strict=False)) for n in _list(name, raw))
    except ValueError:
        raise ConfigError(f"{name} must be CIDR networks or none, got {raw.strip()!r}") from None


@dataclass(frozen=True)
class Settings:
    """Everything the server reads from its environment: one declaration per variable.

    Construct with :meth:`from_env`; tests build one directly with the fields they need.
    """

    data_dir: Path = setting(  # noqa: RUF009 (Path is immutable)
        "EDGE_DATA_DIR",
        Path("data"),
        _path,
        "all state: the SQLite database, the generated signing secret, the event spool",
    )
    database_url: str = setting(
        "EDGE_DATABASE_URL",
        "",
        _database_url,
        "`postgresql://user:password@host:port/database`: every node of a cluster keeps its "
        "state there (see [Running several nodes](#running-several-nodes)). Unset: SQLite in "
        "`<data dir>/edge.sqlite3`, for one machine. Never logged",
        unset="SQLite",
        secret=True,
    )
    node_id: str = setting(
        "EDGE_NODE_ID",
        "",
        _node_id,
        "this node's name in a cluster (letters, digits, `.`, `_`, `-`; at most 64): its "
        "events and spool progress are kept under it. Unset: generated once and kept in "
        "`<data dir>/node_id`",
        unset="generated",
    )
    #: Newest first; empty: use (or create) ``<data_dir>/secret_keys`` (edge/tokens/codec.py).
    secret_keys: tuple[str, ...] = setting(
        "EDGE_SECRET_KEYS",
        (),
        _list,
        "comma-separated signing secrets, **newest first**: the first signs, all verify (key "
        "rotation). Unset: a 256-bit secret is generated on first start and kept in `<data "
        "dir>/secret_keys` (mode 0600), or with `EDGE_DATABASE_URL` in the shared database, so "
        "that every node verifies every link. Never logged.",
        unset="generated",
        secret=True,
    )
    default_domain: str = setting(
        "EDGE_DEFAULT_DOMAIN",
        "127.0.0.1",
        _host_name,
        "the platform's own tracking domain; it serves links of every account",
    )
    default_secure: bool = setting(
        "EDGE_DEFAULT_SECURE",
        False,
        _bool,
        "whether links on the default domain use `https`",
    )
    admin_host: str = setting(
        "EDGE_ADMIN_HOST",
        "localhost",
        _host_name,
        "the only host on which the admin API and the admin console are served",
    )
    console_session_seconds: int = setting(
        "EDGE_CONSOLE_SESSION_SECONDS",
        28800,
        _int,
        "seconds an admin console sign-in lasts (the session cookie and its server-side row "
        "expire together)",
    )
    console_signin_limit: int = setting(
        "EDGE_CONSOLE_SIGNIN_LIMIT",
        10,
        _int,
        "admin console sign-in attempts allowed per client address in each 5 minutes",
    )
    public_http_port: int = setting(
        "EDGE_PUBLIC_HTTP_PORT",
        80,
        _port,
        "port written into `http` tracking URLs (left out when 80)",
    )
    public_https_port: int = setting(
        "EDGE_PUBLIC_HTTPS_PORT",
        443,
        _port,
        "port written into `https` tracking URLs (left out when 443)",
    )
    domain_poll_interval: float = setting(
        "EDGE_DOMAIN_POLL_INTERVAL",
        0.25,
        _float,
        "seconds between each worker's checks for domain changes",
    )
    #: Background jobs hold the write lock for up to a few hundred milliseconds.
    db_busy_timeout: float = setting(
        "EDGE_DB_BUSY_TIMEOUT",
        1.0,
        _float,
        "seconds the ingester waits on a locked database before trying again later (the events "
        "wait in the spool; no request ever waits)",
    )
    event_batch_size: int = setting(
        "EDGE_EVENT_BATCH_SIZE",
        10_000,
        _int,
        "most events the ingester commits in one transaction",
    )
    ingester: str = setting(
        "EDGE_INGESTER",
        "inline",
        _choice("inline", "separate"),
        "who stores the spooled events: `separate`, a process of its own that `tracking-edge "
        "serve` starts and restarts (serve's choice unless this is set); `inline`, a task of "
        "the serving process holding `<data dir>/ingester.lock` (for `uvicorn --factory "
        "admin.server:create_app`, tests)",
    )
    ingest_nice: int = setting(
        "EDGE_INGEST_NICE",
        19,
        _int,
        "niceness the separate ingester adds to itself. It only matters when the CPU is "
        "saturated: then requests are answered first, the spool on disk absorbs the events, and "
        "the ingester stores them once the load drops (`spool_backlog_bytes` in `/healthz`). "
        "Lower it to trade redirect throughput for fresher stats under sustained full load",
    )
    ingest_idle: bool = setting(
        "EDGE_INGEST_IDLE",
        True,
        _bool,
        "whether the separate ingester also takes Linux's `SCHED_IDLE` policy, under which "
        "the kernel treats its core as free when it places the server's work, as niceness "
        "alone does not. Like a high niceness it only matters while the CPU is saturated; set "
        "false to keep the normal policy",
    )
    cname_target: str = setting(
        "EDGE_CNAME_TARGET",
        "",
        _host,
        "the host name under which each account has its own CNAME target, `<label>.<target>`, "
        "that its customers point their tracking domains at; the operator's DNS must send "
        "`<target>` and the wildcard `*.<target>` to the edge (see [Domain verification]"
        "(#domain-verification)). Set it in production: a CNAME cannot point at an IP address; a "
        "value that is not a host name stops the server at start",
        same_as="default_domain",
    )
    dns_nameservers: tuple[str, ...] = setting(
        "EDGE_DNS_NAMESERVERS",
        (),
        _list,
        "comma-separated resolvers, `host` or `host:port` (e.g. `127.0.0.1:5353`), for "
        "verification and for every outbound request to a customer's host (reachability, "
        "HTTPS proof, webhooks); `/etc/hosts` is not read",
        unset="system resolver",
    )
    dns_timeout: float = setting(
        "EDGE_DNS_TIMEOUT",
        3.0,
        _float,
        "seconds one CNAME check may take in all",
    )
    verify_port: int = setting(
        "EDGE_VERIFY_PORT",
        80,
        _port,
        "port the reachability check connects to on the customer's domain",
    )
    recheck_interval: float = setting(
        "EDGE_RECHECK_INTERVAL",
        86400.0,
        _float,
        "seconds between re-checks of a verified domain's CNAME (a domain whose CNAME is gone "
        "becomes `invalid` and is no longer served)",
    )
    deny_domains: tuple[str, ...] = setting(
        "EDGE_DENY_DOMAINS",
        (),
        _hosts,
        "comma-separated names nobody may claim, with their subdomains (error 7000), besides "
        "the default domain, the CNAME target, the admin host and `localhost`; an entry that is "
        "not a host name stops the server at start",
    )
    #: The guard itself is admin/domains/reachability.py.
    verify_allow_networks: tuple[str, ...] = setting(
        "EDGE_VERIFY_ALLOW_NETWORKS",
        ("127.0.0.0/8", "::1/128"),
        _networks,
        "networks (CIDR, comma-separated) besides globally routable addresses that the "
        "reachability check and the HTTPS proof may connect to; `none`: public addresses only. "
        "Everything else (private, loopback, link-local and cloud metadata, shared, site-local, "
        "unique-local, documentation, multicast, reserved) is refused, since a customer's DNS "
        "chooses the address (see [SSRF](#server-side-request-forgery))",
    )
    tls_mode: str = setting(
        "EDGE_TLS",
        "builtin",
        _choice("builtin", "external"),
        "`builtin`: this server issues certificates and can serve HTTPS (`serve --https-port`); "
        "`external`: TLS is terminated in front of it (Caddy on-demand TLS, a load balancer): "
        "no certificates are issued here, domains are only proven over HTTPS (see "
        "[HTTPS](#https))",
    )
    acme_directory: str = setting(
        "EDGE_ACME_DIRECTORY",
        "",
        _text,
        "ACME directory URL, e.g. `https://acme-v02.api.letsencrypt.org/directory` (staging: "
        "`https://acme-staging-v02.api.letsencrypt.org/directory`) or any RFC 8555 CA. Unset: "
        "certificates come from the local CA in `<data dir>/local-ca`",
        unset="local CA",
    )
    acme_email: str = setting(
        "EDGE_ACME_EMAIL",
        "",
        _text,
        "contact address registered with the ACME account",
    )
    acme_eab_kid: str = setting(
        "EDGE_ACME_EAB_KID",
        "",
        _text,
        "external account binding key id, for CAs that require one (ZeroSSL, Google, ...)",
    )
    acme_eab_hmac: str = setting(
        "EDGE_ACME_EAB_HMAC",
        "",
        _text,
        "external account binding HMAC key (base64url, as the CA gives it). Never logged",
        secret=True,
    )
    acme_ca_bundle: str = setting(
        "EDGE_ACME_CA_BUNDLE",
        "",
        _text,
        "CA bundle (PEM file) that verifies the ACME directory's own HTTPS, for a private or "
        "test CA",
        unset="system roots",
    )
    https_verify_port: int = setting(
        "EDGE_HTTPS_VERIFY_PORT",
        0,
        _port,
        "port of the HTTPS request that proves a new certificate is served before `ssl_status` "
        "becomes `active`",
        same_as="public_https_port",
    )
    ssl_renew_days: float = setting(
        "EDGE_SSL_RENEW_DAYS",
        30.0,
        _float,
        "renew a certificate this many days before it expires (day 60 of Let's Encrypt's 90)",
    )
    ssl_retry_base: float = setting(
        "EDGE_SSL_RETRY_BASE",
        60.0,
        _float,
        "seconds before the first retry of a failed issuance; doubled after each failure",
    )
    ssl_retry_max: float = setting(
        "EDGE_SSL_RETRY_MAX",
        21600.0,
        _float,
        "longest wait between retries, in seconds",
    )
    ssl_check_interval: float = setting(
        "EDGE_SSL_CHECK_INTERVAL",
        60.0,
        _float,
        "seconds between each worker's looks for due renewals and retries",
    )
    trusted_proxies: tuple[str, ...] = setting(
        "EDGE_TRUSTED_PROXIES",
        (),
        _cidrs,
        "CIDR networks (comma-separated) of proxies in front of the edge whose "
        "`X-Forwarded-For` is believed; from any other peer the header is ignored and the peer "
        "is the client (see [Engagement data](#engagement-data))",
    )
    https_proxy_protocol: bool = setting(
        "EDGE_HTTPS_PROXY_PROTOCOL",
        False,
        _bool,
        "expect a PROXY protocol header (version 1 or 2: nginx `proxy_protocol on`, HAProxy "
        "`send-proxy`) before the TLS handshake of every HTTPS connection, from a balancer "
        "passing TLS through, and take the client's address from it; a connection without "
        "one, or from outside `EDGE_TRUSTED_PROXIES`, is closed",
    )
    classify_rules_dir: Path | None = setting(  # noqa: RUF009 (Path is immutable)
        "EDGE_CLASSIFY_RULES_DIR",
        None,
        _path,
        "a directory of extra classification rule files (`*.txt`, same format as "
        "`edge/events/rules/`), read after the shipped ones",
    )
    fast_click_seconds: float = setting(
        "EDGE_FAST_CLICK_SECONDS",
        2.0,
        _float,
        "a click this soon after the first open of its message and recipient is a scanner's "
        "(`fast_click`)",
    )
    burst_seconds: float = setting(
        "EDGE_BURST_SECONDS",
        2.0,
        _float,
        "two different links of one message clicked from one address this close together are a "
        "scanner's (`link_burst`)",
    )
    rollup_interval: float = setting(
        "EDGE_ROLLUP_INTERVAL",
        1.0,
        _float,
        "seconds between the ingester's roll-up passes while events keep arriving (stats, "
        "unique counts, the webhook queue); it also passes whenever the spool is empty, and the "
        "stats API catches up before it answers",
    )
    event_retention_days: float = setting(
        "EDGE_EVENT_RETENTION_DAYS",
        90.0,
        _float,
        "raw events older than this are pruned (`0`: kept forever); roll-ups and unique keys "
        "are kept",
    )
    retention_interval: float = setting(
        "EDGE_RETENTION_INTERVAL",
        3600.0,
        _float,
        "seconds between pruning runs",
    )
    webhook_timeout: float = setting(
        "EDGE_WEBHOOK_TIMEOUT",
        10.0,
        _float,
        "seconds a webhook request may take",
    )
    webhook_backoff_base: float = setting(
        "EDGE_WEBHOOK_BACKOFF_BASE",
        5.0,
        _float,
        "seconds before retrying a failed endpoint; doubled after each failure, at most an hour",
    )
    webhook_max_age: float = setting(
        "EDGE_WEBHOOK_MAX_AGE",
        86400.0,
        _float,
        "seconds an event is retried before it is dropped and counted as `expired`",
    )
    webhook_allow_networks: tuple[str, ...] = setting(
        "EDGE_WEBHOOK_ALLOW_NETWORKS",
        (),
        _networks,
        "networks (CIDR, comma-separated) besides globally routable addresses that webhooks may "
        "be delivered to, e.g. `10.1.0.0/16` for receivers on a private network; `none`: public "
        "addresses only, so not this host's loopback (see [SSRF](#server-side-request-forgery))",
        unset="none",
    )
    http_head_timeout: float = setting(
        "EDGE_HTTP_HEAD_TIMEOUT",
        10.0,
        _float,
        "seconds a client has, from the first byte of a request head, to send all of it; then "
        "`408` and the connection is closed (idle connections, fresh ones too, are closed after "
        "uvicorn's 5 s keep-alive timeout)",
    )
    http_max_request_line: int = setting(
        "EDGE_HTTP_MAX_REQUEST_LINE",
        16384,
        _int,
        "most bytes in a request target (the URL of the request line); a longer one is "
        "answered `414` as soon as that many bytes have arrived",
    )
    http_max_head: int = setting(
        "EDGE_HTTP_MAX_HEAD",
        65536,
        _int,
        "most bytes in a request head (request line and header fields); a larger one is "
        "answered `431`",
    )
    http_max_connections: int = setting(
        "EDGE_HTTP_MAX_CONNECTIONS",
        0,
        _int,
        "connections each worker holds at most (`0`: three quarters of its open-file limit); a "
        "new connection beyond it closes the one idle longest (idle, or still sending its "
        "request head), or is itself closed if every connection has a request in progress",
    )
    metrics_token: str = setting(
        "EDGE_METRICS_TOKEN",
        "",
        _text,
        "bearer token `GET /metrics` (Prometheus, on the admin host) asks for: "
        "`Authorization: Bearer <token>`. Unset: `/metrics` is off (404), since it names every "
        "account's domains. Never logged",
        secret=True,
    )
    listen_host: str = setting(
        "EDGE_HOST",
        "127.0.0.1",
        _text,
        "address `tracking-edge serve` binds (the Procfile uses `0.0.0.0`)",
    )
    listen_port: int = setting(
        "PORT",
        8000,
        _port,
        "port `tracking-edge serve` listens on",
    )

    def __post_init__(self) -> None:
        for name, declared in _FOLLOWERS:
            if getattr(self, name) == declared.default:
                object.__setattr__(self, name, getattr(self, declared.same_as))

    @property
    def database_path(self) -> Path:
        return self.data_dir / "edge.sqlite3"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def snapshot_dir(self) -> Path | None:
        """Where a node on a shared database keeps what it serves from
        (:mod:`edge.serving.snapshot`); ``None`` on the embedded database."""
        return self.data_dir / "snapshot" if self.database_url else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings ``env`` (default: ``os.environ``) gives; a bad value is a ConfigError."""
        env = os.environ if env is None else env
        given: dict[str, Any] = {}
        for name, declared in SETTINGS.items():
            raw = env.get(declared.env, "")
            if raw.strip():
                given[name] = declared.parse(declared.env, raw)
        settings = cls(**given)
        if settings.admin_host == settings.default_domain:
            raise ConfigError("EDGE_ADMIN_HOST and EDGE_DEFAULT_DOMAIN must differ")
        if settings.https_proxy_protocol and not settings.trusted_proxies:
            # Every connection would be closed: the header is believed from balancers only.
            raise ConfigError(
                "EDGE_HTTPS_PROXY_PROTOCOL needs EDGE_TRUSTED_PROXIES (the balancers)"
            )
        return settings


#: Every setting by field name, in declaration (and README) order. A field made without
#: :func:`setting` fails here, at import.
SETTINGS: dict[str, Setting[Any]] = {f.name: f.metadata["setting"] for f in fields(Settings)}
#: Settings whose default is another's value (``same_as``).
_FOLLOWERS = tuple((name, declared) for name, declared in SETTINGS.items() if declared.same_as)


def setting_value(name: str, raw: str) -> Any:
    """``raw`` read as the setting ``name`` is (a command-line argument meaning the same as
    its variable); raises :class:`ConfigError` as the variable would."""
    declared = SETTINGS[name]
    return declared.parse(declared.env, raw)
