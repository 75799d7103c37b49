"""The one rule set for tracking-domain names (admin.validation)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from admin.api.errors import InvalidData, InvalidDomain, MissingField, Restricted
from admin.domains.validation import BAD_CHARACTERS, NO_DOT, SYNTAX, TOO_SHORT, DomainRules
from edge.config import Settings

RULES = DomainRules.from_settings(
    Settings(
        default_domain="track.test",
        admin_host="admin.test",
        cname_target="edge.example",
        deny_domains=("denied.example",),
    )
)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("example.domain.com", "example.domain.com"),
        ("Track.Brand.COM", "track.brand.com"),
        ("track.brand.com.", "track.brand.com"),
        ("  track.brand.com\t", "track.brand.com"),
        ("tråck.brand.com", "xn--trck-roa.brand.com"),
        ("ÉXEMPLE.fr", "xn--xemple-9ua.fr"),
        ("xn--trck-roa.brand.com", "xn--trck-roa.brand.com"),
        ("a-b.c-d.io", "a-b.c-d.io"),
        ("123.brand.com", "123.brand.com"),
        ("a.bc", "a.bc"),
        ("x" * 63 + ".com", "x" * 63 + ".com"),
        (".".join(["abcdefghi"] * 25) + ".com", ".".join(["abcdefghi"] * 25) + ".com"),  # 253
    ],
)
def test_accepted_names_are_normalised(raw, name):
    assert RULES.parse(raw) == name


@pytest.mark.parametrize(
    ("raw", "template"),
    [
        ("example..domain.com", SYNTAX),
        (".brand.com", SYNTAX),
        ("-track.brand.com", SYNTAX),
        ("track-.brand.com", SYNTAX),
        ("x" * 64 + ".com", SYNTAX),
        (".".join(["abcdefghi"] * 25) + ".info", SYNTAX),  # 254 characters
        ("192.0.2.1", SYNTAX),
        ("track.brand.123", SYNTAX),
        ("xn--zz.brand.com", SYNTAX),
        ("brand.com..", SYNTAX),
        ("ex", TOO_SHORT),
        ("a.", TOO_SHORT),
        ("exampledomaincom", NO_DOT),
        ("localhost.", NO_DOT),
        ("example*&#.domain.com", BAD_CHARACTERS),
        ("*.brand.com", BAD_CHARACTERS),
        ("track brand.com", BAD_CHARACTERS),
        ("under_score.brand.com", BAD_CHARACTERS),
        ("track.brand.com:8080", BAD_CHARACTERS),
        ("::1", BAD_CHARACTERS),
        ("[::1]", BAD_CHARACTERS),
        ("http://track.brand.com", BAD_CHARACTERS),
        ("track.brand.com/path", BAD_CHARACTERS),
    ],
)
def test_rejected_names_quote_the_input_in_the_seed_texts(raw, template):
    with pytest.raises(InvalidDomain) as caught:
        RULES.parse(raw)
    assert caught.value.description == template.format(raw.strip())
    assert (caught.value.code, caught.value.status) == ("1300", 422)


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_missing_domain_is_required(raw):
    with pytest.raises(MissingField) as caught:
        RULES.parse(raw)
    assert caught.value.description == "field 'domain' is required"


@pytest.mark.parametrize("raw", [5, ["a.com"], {"domain": "a.com"}, True])
def test_non_string_domain_is_invalid_data(raw):
    with pytest.raises(InvalidData) as caught:
        RULES.parse(raw)
    assert caught.value.description == "field 'domain' must be a string"


@pytest.mark.parametrize(
    "raw",
    [
        "track.test",
        "x.track.test",
        "TRACK.TEST.",
        "edge.example",
        "a.b.edge.example",
        "admin.test",
        "app.localhost",
        "denied.example",
        "www.denied.example",
    ],
)
def test_restricted_names_and_their_subdomains_are_7000(raw):
    with pytest.raises(Restricted) as caught:
        RULES.parse(raw)
    assert (caught.value.code, caught.value.status) == ("7000", 400)


@pytest.mark.parametrize("raw", ["nottrack.test", "track.test.brand.com", "denied.example.org"])
def test_names_that_merely_resemble_restricted_ones_are_allowed(raw):
    assert RULES.parse(raw) == raw


def test_syntax_check_alone_does_not_restrict():
    assert RULES.syntax("mail.track.test") == "mail.track.test"


@given(st.text(max_size=80))
def test_any_input_is_accepted_as_a_valid_host_or_refused_with_an_admin_error(raw):
    try:
        name = RULES.parse(raw)
    except (InvalidData, MissingField, Restricted):
        return
    assert name == name.lower() and name.isascii()
    assert len(name) <= 253 and "." in name and not name.endswith(".")
    assert all(1 <= len(label) <= 63 for label in name.split("."))
    assert RULES.parse(name) == name  # normalisation is idempotent
