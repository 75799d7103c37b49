"""Settings from the environment: invalid host names are refused, secrets stay out of repr."""

from __future__ import annotations

import dataclasses

import pytest

from edge.config import ConfigError, Settings


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


def test_settings_hold_no_copy_of_the_environment_and_hide_secret_keys():
    env = {"EDGE_SECRET_KEYS": "s3cret-one,s3cret-two", "AWS_SECRET_ACCESS_KEY": "leak"}
    settings = Settings.from_env(env)
    assert settings.secret_keys == ("s3cret-one", "s3cret-two")
    assert "extra" not in {f.name for f in dataclasses.fields(Settings)}
    assert "s3cret" not in repr(settings) and "leak" not in repr(settings)
