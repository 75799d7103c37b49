"""Settings: each declared once, read from the environment, and shown as declared in the README.

The README's configuration table must list exactly the declared variables, in declaration
order, each with its declared default (rendered by :func:`readme_default`) and description.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edge.config import SETTINGS, ConfigError, Setting, Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_rows() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) of each row of the README's configuration table."""
    section = README.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            variable, default, meaning = line[2:].removesuffix(" |").split(" | ", 2)
            rows.append((variable.strip("`"), default, meaning))
    return rows


def readme_default(declared: Setting) -> str:
    """How the README shows a declared default: the value in code style (floats without a
    trailing ``.0``, tuples comma-joined), the source's variable for a derived default, and
    what an empty default stands for (``generated``, ``system resolver``) or ``empty``."""
    if declared.same_as:
        return f"`{SETTINGS[declared.same_as].env}`"
    value = declared.default
    if value is None or value == "" or value == ():
        return declared.unset or "empty"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = str(value).removesuffix(".0")
    elif isinstance(value, tuple):
        text = ",".join(value)
    else:
        text = str(value)
    return f"`{text}`"


def test_the_readme_table_lists_exactly_the_declared_variables_in_order():
    assert [variable for variable, _, _ in readme_rows()] == [s.env for s in SETTINGS.values()]


def test_the_readme_table_shows_each_declared_default():
    shown = {variable: default for variable, default, _ in readme_rows()}
    assert shown == {s.env: readme_default(s) for s in SETTINGS.values()}


def test_the_readme_table_describes_each_setting_as_declared():
    described = {variable: meaning for variable, _, meaning in readme_rows()}
    assert described == {s.env: s.doc for s in SETTINGS.values()}


#: For each setting, a value as written in the environment and what it reads as.
SAMPLES: dict[str, tuple[str, object]] = {
    "data_dir": (" /srv/edge ", Path("/srv/edge")),
    "secret_keys": ("new-key, old-key,", ("new-key", "old-key")),
    "default_domain": ("Track.Example.", "track.example"),
    "default_secure": ("Yes", True),
    "https_proxy_protocol": ("on", True),
    "admin_host": ("Admin.Example.", "admin.example"),
    "console_session_seconds": (" 3600 ", 3600),
    "console_signin_limit": ("3", 3),
    "public_http_port": ("8080", 8080),
    "public_https_port": ("8443", 8443),
    "domain_poll_interval": ("0.5", 0.5),
    "db_busy_timeout": ("2.5", 2.5),
    "event_batch_size": ("100", 100),
    "ingester": ("Separate", "separate"),
    "ingest_nice": ("5", 5),
    "ingest_idle": ("off", False),
    "cname_target": ("Edge.Example.", "edge.example"),
    "dns_nameservers": ("127.0.0.1:5353, ::1", ("127.0.0.1:5353", "::1")),
    "dns_timeout": ("1.5", 1.5),
    "verify_port": ("8081", 8081),
    "recheck_interval": ("3600", 3600.0),
    "deny_domains": ("Bad.Example, worse.example.", ("bad.example", "worse.example")),
    "database_url": (" postgresql://edge@db.internal:5432/edge ", "postgresql://edge@db.internal:5432/edge"),
    "node_id": (" node-a.1 ", "node-a.1"),
    "metrics_token": (" s3cret ", "s3cret"),
    "http_head_timeout": ("2.5", 2.5),
    "http_max_request_line": ("8192", 8192),
    "http_max_head": ("32768", 32768),
    "http_max_connections": ("1000", 1000),
    "verify_allow_networks": ("10.1.2.3/8", ("10.0.0.0/8",)),
    "webhook_allow_networks": (" 10.1.0.0/16 ", ("10.1.0.0/16",)),
    "tls_mode": ("External", "external"),
    "acme_directory": (" https://acme.test/dir ", "https://acme.test/dir"),
    "acme_email": ("ops@example.com", "ops@example.com"),
    "acme_eab_kid": ("kid-1", "kid-1"),
    "acme_eab_hmac": ("aG1hYw", "aG1hYw"),
    "acme_ca_bundle": ("/etc/ca.pem", "/etc/ca.pem"),
    "https_verify_port": ("9443", 9443),
    "ssl_renew_days": ("20", 20.0),
    "ssl_retry_base": ("30", 30.0),
    "ssl_retry_max": ("600", 600.0),
    "ssl_check_interval": ("5", 5.0),
    "trusted_proxies": ("10.1.2.3/8, 192.168.0.0/16", ("10.0.0.0/8", "192.168.0.0/16")),
    "classify_rules_dir": ("/etc/edge/rules", Path("/etc/edge/rules")),
    "fast_click_seconds": ("1.5", 1.5),
    "burst_seconds": ("3", 3.0),
    "rollup_interval": ("0.1", 0.1),
    "event_retention_days": ("0", 0.0),
    "retention_interval": ("60", 60.0),
    "webhook_timeout": ("5", 5.0),
    "webhook_backoff_base": ("1", 1.0),
    "webhook_max_age": ("3600", 3600.0),
    "listen_host": ("0.0.0.0", "0.0.0.0"),
    "listen_port": ("5000", 5000),
}


#: Settings that need another one set (name: that other one's sample).
NEEDS = {"https_proxy_protocol": "trusted_proxies"}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_declared_setting_round_trips_from_the_environment(name):
    assert name in SAMPLES, f"add a sample value for {name} to SAMPLES"
    raw, value = SAMPLES[name]
    assert value != SETTINGS[name].default
    env, given = {SETTINGS[name].env: raw}, {name: value}
    if name in NEEDS:
        other = NEEDS[name]
        env[SETTINGS[other].env], given[other] = SAMPLES[other]
    settings = Settings.from_env(env)
    assert getattr(settings, name) == value
    assert settings == Settings(**given)  # every other setting keeps its default


def test_unset_or_blank_variables_give_the_declared_defaults():
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({s.env: "  " for s in SETTINGS.values()}) == Settings()
    assert Settings().data_dir == Path("data") and Settings().ingester == "inline"


def test_a_derived_default_follows_its_source_unless_given():
    assert Settings(public_https_port=8443).https_verify_port == 8443
    assert Settings(public_https_port=8443, https_verify_port=9443).https_verify_port == 9443
    assert Settings(default_domain="t.example").cname_target == "t.example"
    env = {"EDGE_DEFAULT_DOMAIN": "t.example", "EDGE_CNAME_TARGET": "edge.example"}
    assert Settings.from_env(env).cname_target == "edge.example"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"EDGE_PUBLIC_HTTP_PORT": "eighty"},
            "EDGE_PUBLIC_HTTP_PORT must be an integer, got 'eighty'",
        ),
        ({"PORT": " http "}, "PORT must be an integer, got 'http'"),
        ({"PORT": "99999"}, "PORT must be a port from 1 to 65535, got 99999"),
        ({"EDGE_VERIFY_PORT": "0"}, "EDGE_VERIFY_PORT must be a port from 1 to 65535, got 0"),
        ({"EDGE_DNS_TIMEOUT": "soon"}, "EDGE_DNS_TIMEOUT must be a number, got 'soon'"),
        (
            {"EDGE_DEFAULT_SECURE": "Maybe"},
            "EDGE_DEFAULT_SECURE must be true or false, got 'maybe'",
        ),
        (
            {"EDGE_INGESTER": "Thread"},
            "EDGE_INGESTER must be one of inline, separate, got 'thread'",
        ),
        ({"EDGE_DEFAULT_DOMAIN": "not a host"}, "EDGE_DEFAULT_DOMAIN is not a valid host name"),
        ({"EDGE_ADMIN_HOST": "not a host"}, "EDGE_ADMIN_HOST is not a valid host name"),
        (
            {"EDGE_CNAME_TARGET": "a.example, b.example"},
            "EDGE_CNAME_TARGET must be one host name, got 'a.example, b.example'",
        ),
        (
            {"EDGE_TRUSTED_PROXIES": "10.0.0.0/8, proxy"},
            "EDGE_TRUSTED_PROXIES must be comma-separated CIDR networks",
        ),
        (
            {"EDGE_VERIFY_ALLOW_NETWORKS": "intranet"},
            "EDGE_VERIFY_ALLOW_NETWORKS must be CIDR networks or none, got 'intranet'",
        ),
        (
            {"EDGE_ADMIN_HOST": "Track.Example", "EDGE_DEFAULT_DOMAIN": "track.example."},
            "EDGE_ADMIN_HOST and EDGE_DEFAULT_DOMAIN must differ",
        ),
        (
            {"EDGE_HTTPS_PROXY_PROTOCOL": "1"},
            "EDGE_HTTPS_PROXY_PROTOCOL needs EDGE_TRUSTED_PROXIES (the balancers)",
        ),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_variable(env, message):
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env)
    assert str(error.value) == message


@pytest.mark.parametrize("value", ["not a host", "*.edge.example", "a.example,b.example"])
def test_an_invalid_cname_target_is_a_config_error_naming_the_variable(value):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"EDGE_CNAME_TARGET": value})
    assert str(error.value).startswith("EDGE_CNAME_TARGET")


def test_a_valid_cname_target_is_normalised_and_unset_falls_back_to_the_default_domain():
    assert Settings.from_env({"EDGE_CNAME_TARGET": "Edge.Example."}).cname_target == "edge.example"
    assert Settings.from_env({"EDGE_DEFAULT_DOMAIN": "t.example"}).cname_target == "t.example"


def test_an_invalid_deny_domain_entry_is_a_config_error_naming_it():
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"EDGE_DENY_DOMAINS": "ok.example, bad entry ,Also.Example"})
    assert str(error.value) == "EDGE_DENY_DOMAINS: 'bad entry' is not a valid host name"


def test_deny_domains_are_normalised():
    settings = Settings.from_env({"EDGE_DENY_DOMAINS": "ok.example, Also.Example.,"})
    assert settings.deny_domains == ("ok.example", "also.example")


def test_settings_hold_no_copy_of_the_environment_and_hide_secrets():
    env = {
        "EDGE_SECRET_KEYS": "s3cret-one,s3cret-two",
        "EDGE_ACME_EAB_HMAC": "s3cret-hmac",
        "AWS_SECRET_ACCESS_KEY": "leak",
    }
    settings = Settings.from_env(env)
    assert settings.secret_keys == ("s3cret-one", "s3cret-two")
    assert settings.acme_eab_hmac == "s3cret-hmac"
    assert "extra" not in {f.name for f in dataclasses.fields(Settings)}
    assert "s3cret" not in repr(settings) and "leak" not in repr(settings)


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().data_dir = Path("elsewhere")  # type: ignore[misc]
