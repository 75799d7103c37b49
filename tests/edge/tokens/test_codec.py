"""Tokens: compact, signed, URL-safe, rotatable, account-bound, no address in clear."""

from __future__ import annotations

import base64
import re
import zlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from itsdangerous import BadData, URLSafeSerializer

from edge.tokens.codec import (
    BadToken,
    ClickToken,
    OpenToken,
    TokenCodec,
    UnsafeURL,
    load_secret_keys,
    safe_url,
)
from edge.tokens.signing import ABBREVIATIONS, SCHEMES, CompactSerializer, expand

CODEC = TokenCodec(["k1"])


def payload_text(token: str) -> str:
    """What anyone holding a format 2 token can read: the signed, not encrypted, payload."""
    body = token.rsplit(".", 1)[0]
    assert body[0] == "2"
    raw = base64.urlsafe_b64decode(body[1:] + "=" * (-len(body[1:]) % 4))
    if raw[:1] == b"\x00":
        raw = zlib.decompress(raw[1:], -15)
    return expand(raw.decode())


def test_click_token_round_trips_every_field():
    token = CODEC.sign_click(
        7, "https://shop.example/p?a=1&b=2", message="m", recipient="r", link="cta"
    )
    assert CODEC.read_click(token) == ClickToken(
        7, "https://shop.example/p?a=1&b=2", "m", "r", "cta"
    )


def test_open_token_round_trips_and_keeps_its_kind():
    token = CODEC.sign_open(7, message="m", recipient="r", kind="initial_open")
    assert CODEC.read_open(token) == OpenToken(7, "m", "r", "initial_open")


def test_tokens_are_url_safe_and_compact():
    token = CODEC.sign_click(1, "https://example.com/")
    assert re.fullmatch(r"[A-Za-z0-9_\-.]+", token)
    assert len(token) < 80


def test_common_url_parts_are_abbreviated_to_one_byte():
    url = "https://www.example.com/?utm_source=nl&utm_medium=mail&utm_campaign=autumn"
    token = CODEC.sign_click(1, url)
    assert token.startswith("2") and len(token) < len(url)
    assert CODEC.read_click(token).url == url


def test_long_payloads_are_deflated_when_that_is_shorter():
    url = "https://example.org/" + "abc/" * 100
    token = CODEC.sign_click(1, url)
    body = token[1:].rsplit(".", 1)[0]
    assert base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[:1] == b"\x00"
    assert len(token) < len(url) / 2
    assert CODEC.read_click(token).url == url
    assert payload_text(token) == f'[2,1,"{url}"]'


def test_short_payloads_are_not_deflated():
    token = CODEC.sign_click(1, "https://example.org/" + "abc/" * 20)
    body = token[1:].rsplit(".", 1)[0]
    assert base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[:1] != b"\x00"


def test_click_and_open_tokens_are_not_interchangeable():
    with pytest.raises(BadToken):
        CODEC.read_open(CODEC.sign_click(1, "https://example.com/"))
    with pytest.raises(BadToken):
        CODEC.read_click(CODEC.sign_open(1))


def test_a_token_signed_with_another_key_does_not_verify():
    with pytest.raises(BadToken) as info:
        CODEC.read_click(TokenCodec(["other"]).sign_click(1, "https://example.com/"))
    assert info.value.token.startswith("2")


def test_first_key_signs_and_every_key_verifies():
    rotated = TokenCodec(["k2", "k1"])
    assert rotated.read_click(CODEC.sign_click(1, "https://a.example/")).url == "https://a.example/"
    new = rotated.sign_click(1, "https://a.example/")
    assert new == TokenCodec(["k2"]).sign_click(1, "https://a.example/")
    with pytest.raises(BadToken):
        CODEC.read_click(new)


def test_recipient_address_never_appears_in_clear():
    token = CODEC.sign_click(1, "https://example.com/", recipient="Jane.Doe@Example.com")
    assert "jane" not in payload_text(token).lower()
    ref = CODEC.read_click(token).recipient
    assert re.fullmatch(r"h:[0-9a-f]{24}", ref)
    # Stable, so unique counts work: the same address (any case) gives the same reference.
    assert CODEC.recipient_ref("jane.doe@example.com") == ref


def test_opaque_recipient_references_are_kept_as_given():
    assert CODEC.read_open(CODEC.sign_open(1, recipient="cust-42")).recipient == "cust-42"


def test_recipient_refs_of_an_address_are_its_references_under_every_key():
    before = CODEC.read_click(CODEC.sign_click(1, "https://e/", recipient="Jane@Example.com"))
    rotated = TokenCodec(["k2", "k1"])
    after = rotated.read_click(rotated.sign_click(1, "https://e/", recipient="jane@example.com"))
    # The address as the sender wrote it in the erasure request, any case, spaces around.
    assert rotated.recipient_refs(" JANE@example.com ") == [after.recipient, before.recipient]
    assert CODEC.recipient_refs("jane@example.com") == [before.recipient]


def test_recipient_refs_of_an_opaque_reference_is_the_reference():
    assert CODEC.recipient_refs("cust-42") == ["cust-42"]
    assert TokenCodec(["k2", "k2"]).recipient_refs("a@b.example") == [
        TokenCodec(["k2"]).recipient_ref("a@b.example")
    ]


def test_token_with_an_unknown_format_version_is_refused():
    forged_version = URLSafeSerializer(["k1"], salt=TokenCodec.click_salt).dumps(
        [2, 1, "https://e/"]
    )
    with pytest.raises(BadToken, match="unknown token format"):
        CODEC.read_click(forged_version)
    for version in (1, 3):
        in_format_2 = CompactSerializer(["k1"], TokenCodec.click_salt).dumps([version, 1, "h"])
        with pytest.raises(BadToken, match="unknown token format"):
            CODEC.read_click(in_format_2)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("javascript:alert(1)", "only http and https URLs can be tracked"),
        ("ftp://example.com/", "only http and https URLs can be tracked"),
        ("/relative/path", "only http and https URLs can be tracked"),
        ("https:///no-host", "URL has no host"),
        ("https://example.com/\r\nSet-Cookie: a=b", "URL contains control characters"),
    ],
)
def test_unsafe_urls_are_refused_at_signing(url, message):
    with pytest.raises(UnsafeURL, match=message):
        CODEC.sign_click(1, url)


def test_non_ascii_and_spaces_are_percent_encoded_as_a_browser_would():
    assert (
        safe_url("  https://example.com/ü path?q=é  ")
        == "https://example.com/%C3%BC%20path?q=%C3%A9"
    )
    assert safe_url("https://example.com/a?b=1&c=%20") == "https://example.com/a?b=1&c=%20"


def test_generated_secret_is_persisted_once_and_reused(tmp_path):
    first = load_secret_keys((), tmp_path)
    assert load_secret_keys((), tmp_path) == first
    assert len(first) == 1 and len(first[0]) >= 43  # 256 bits, base64url
    assert (tmp_path / "secret_keys").stat().st_mode & 0o777 == 0o600
    assert load_secret_keys(("a", "b"), tmp_path) == ["a", "b"]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            URLSafeSerializer(["k1"], salt=TokenCodec.click_salt).dumps([1, 2, "https://e/"]),
            id="plain",
        ),
        pytest.param(
            URLSafeSerializer(["k1"], salt=TokenCodec.click_salt).dumps(
                [1, 2, "https://e/" + "a/" * 80]
            ),
            id="compressed",
        ),
        pytest.param(
            URLSafeSerializer(["k0"], salt=TokenCodec.click_salt).dumps([1, 2, "https://e/"]),
            id="older-key",
        ),
        pytest.param(
            URLSafeSerializer(["k1"], salt=TokenCodec.click_salt).dumps([1, 2, "https://e/"])[:-2]
            + "zz",
            id="tampered",
        ),
        pytest.param(
            URLSafeSerializer(["zz"], salt=TokenCodec.click_salt).dumps([1, 2, "https://e/"]),
            id="foreign",
        ),
        pytest.param("no-dot-at-all", id="no-separator"),
        pytest.param("W1sx.!!!", id="bad-base64"),
        pytest.param("", id="empty"),
        pytest.param("ü.ü", id="non-ascii"),
    ],
)
def test_fast_verification_agrees_with_itsdangerous(token):
    reference = URLSafeSerializer(["k0", "k1"], salt=TokenCodec.click_salt)
    fast = TokenCodec(["k1", "k0"])._click_v1
    try:
        expected = reference.loads(token)
    except BadData:
        with pytest.raises(BadData):
            fast.loads(token)
    else:
        assert fast.loads(token) == expected


# Tokens made by format 1 (itsdangerous JSON, zlib when shorter) with the key "k1" (the last
# with "k0"), frozen as literals before format 2 existed: emails already sent hold them, and
# people click year-old emails, so every one must keep verifying with the same fields.
FROZEN_V1_CLICKS = [
    (
        ".eJwdy8sOgyAQheF3YdGViDPWS0yMD9I0jch4SRwgAm0fv9qz_E7-B2RNJtYYfeiUCqvzOX1H9jvlk2PlFeCQIr-"
        "CS8dEvaVP2ClGOm6XMpktcU88bvsfpjMdt8X21r0loMgEh0VigbUEkFjK4tz98rXDEtDM2tSIlYHWaF21TTE310mH"
        "E88fTysxxA.6SO1ElYQB1nTZboi_brw6xp8eOQ",
        ClickToken(
            7,
            "https://shop.example.com/p/12?utm_source=newsletter&utm_medium=email&utm_campaign=nov-12",
            "msg-2026-11-23-000042",
            "h:2312dfbd6225d18dbb5870f7",
            "hero",
        ),
    ),
    (
        "WzEsMywiaHR0cHM6Ly9hLmV4YW1wbGUvIl0.t76jsbHqNJ-U4A2A5fePgPo3AtI",
        ClickToken(3, "https://a.example/"),
    ),
    (
        ".eJyLNtQxMdJRyigpKSi20tdPrUjMLchJ1UvOz9XPSy0vzkktKUktGn5MJR2lXCWdvNKcHB2lnMy8bF0TpVgAsvNo"
        "Mg.KTXxdlyBxOFUHHk-I3F4QfWPoMI",
        ClickToken(42, "https://example.com/" + "newsletter/" * 20, "m", None, "link-4"),
    ),
    (
        "WzEsNSwiaHR0cHM6Ly94bi0tZXhtcGxlLWN1YS5jb20vJUMzJUE0JTIwJUMzJUI2P3E9MSIsbnVsbCwici0xIl0"
        ".XZwh0ud0PQ9h1uf0nLekbD6o4cE",
        ClickToken(5, "https://xn--exmple-cua.com/%C3%A4%20%C3%B6?q=1", None, "r-1"),
    ),
    (
        "WzEsMywiaHR0cHM6Ly9vbGQta2V5LmV4YW1wbGUveCIsIm9sZCJd.MW49GsfhIE3eRUREHpbc8Wb_bZI",
        ClickToken(3, "https://old-key.example/x", "old"),
    ),
]
FROZEN_V1_OPENS = [
    (
        "WzEsNywibXNnLTEiLCJjdXN0LTkiLCJpbml0aWFsX29wZW4iXQ.Soy8tjVyCPBuQB1mSEwbV2F8E1k",
        OpenToken(7, "msg-1", "cust-9", "initial_open"),
    ),
    ("WzEsNyxudWxsLG51bGwsIm9wZW4iXQ.FsATja4OQIKSvG6R9h42GnrcmQ0", OpenToken(7)),
]


@pytest.mark.parametrize(("token", "expected"), FROZEN_V1_CLICKS)
def test_format_1_click_tokens_already_sent_still_verify(token, expected):
    assert TokenCodec(["k2", "k1", "k0"]).read_click(token) == expected


@pytest.mark.parametrize(("token", "expected"), FROZEN_V1_OPENS)
def test_format_1_open_tokens_already_sent_still_verify(token, expected):
    assert TokenCodec(["k2", "k1"]).read_open(token) == expected


def test_format_1_tokens_stay_bound_to_their_kind_and_key():
    with pytest.raises(BadToken):
        TokenCodec(["k1"]).read_open(FROZEN_V1_CLICKS[1][0])
    with pytest.raises(BadToken):
        TokenCodec(["k1"]).read_click(FROZEN_V1_OPENS[1][0])
    with pytest.raises(BadToken):
        TokenCodec(["k2"]).read_click(FROZEN_V1_CLICKS[1][0])


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["https://a.example/x?y=1", "HTTP://b.example", " https://c.example/ä "]),
    st.none() | st.text(max_size=20),
    st.none() | st.text(max_size=20) | st.just("Jane@Example.com"),
    st.none() | st.text(max_size=20),
    st.integers(0, 10**12),
)
def test_the_click_signer_makes_the_tokens_sign_click_makes(url, message, recipient, link, account):
    try:
        expected = CODEC.sign_click(account, url, message=message, recipient=recipient, link=link)
    except UnicodeEncodeError:  # a lone surrogate: refused by both
        with pytest.raises(UnicodeEncodeError):
            CODEC.click_signer(account, message=message, recipient=recipient)(url, link)
        return
    assert CODEC.click_signer(account, message=message, recipient=recipient)(url, link) == expected


# What the click signer abbreviates in pieces (edge/tokens/signing.py) and what could join
# across the pieces: every abbreviation, some overlapping, the JSON around strings, what
# needs escaping, schemes, non-ASCII text, white space and control characters; between
# them, plain text.
FRAGMENTS = [*ABBREVIATIONS, "www.com/", "[2,null", ",nullink-", ",", '"', "\\", "[", "]", "2",
             "null", "https://", "http://", ":", "é", "\u2028", "\xa0", " ", "\n", "\x01",
             "\x7f"]  # fmt: skip
piece = st.sampled_from(FRAGMENTS) | st.text("ab2-._~/?&=%", max_size=3)
pieces = st.lists(piece, max_size=6).map("".join)
field_values = (
    st.none()
    | st.sampled_from(FRAGMENTS)
    | pieces
    | st.builds(str.__add__, st.sampled_from(SCHEMES), pieces)
)
target_urls = st.builds(
    lambda *parts: "".join(parts),
    st.sampled_from(["https://", "http://", "HTTPS://", "https://www.", " http://"]),
    st.sampled_from(["shop.example.com/", "a.example", "www.example.com/p?"]),
    pieces,
)


def outcome_of(function, *args, **kwargs):
    """What ``function`` returns, or the type of the error it raises for a bad URL."""
    try:
        return function(*args, **kwargs)
    except UnsafeURL as exc:
        return type(exc)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.integers(-5, 10**12) | st.sampled_from([2, 22]),
    field_values,
    field_values | st.just("Jane@Example.com"),
    st.lists(st.tuples(target_urls, field_values), min_size=1, max_size=4),
    st.booleans(),
)
# A link "," after a null ('","' is then its own quotes); "," and a backslash ending a URL; a
# link starting with a scheme.
@example(7, "m", None, [("https://a.example/", ","), ("https://a.example/", "x,")], True)
@example(7, ",", ",", [("https://a.example/,", ","), ("http://a.example/\\,", "https://x")], False)
def test_the_click_signer_makes_sign_clicks_tokens_whatever_the_fields_hold(
    account, message, recipient, links, checked
):
    sign = CODEC.click_signer(account, message=message, recipient=recipient, checked=checked)
    for url, link in links:
        if checked:  # the rewriter hands it URLs that safe_url() returns unchanged
            url = outcome_of(safe_url, url)
            if url is UnsafeURL:
                continue
        expected = outcome_of(
            CODEC.sign_click, account, url, message=message, recipient=recipient, link=link
        )
        assert outcome_of(sign, url, link) == expected
