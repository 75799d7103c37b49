"""Tokens: compact, signed, URL-safe, rotatable, account-bound, no address in clear."""

from __future__ import annotations

import base64
import re
import zlib

import pytest
from itsdangerous import BadData, URLSafeSerializer

from edge.tokens import (
    BadToken,
    ClickToken,
    OpenToken,
    TokenCodec,
    UnsafeURL,
    load_secret_keys,
    safe_url,
)

CODEC = TokenCodec(["k1"])


def payload_text(token: str) -> str:
    """What anyone holding the token can read: the signed, not encrypted, payload."""
    body = token.rsplit(".", 1)[0]
    compressed = body.startswith(".")
    raw = base64.urlsafe_b64decode(body.lstrip(".") + "=" * (-len(body.lstrip(".")) % 4))
    return (zlib.decompress(raw) if compressed else raw).decode()


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


def test_long_urls_are_compressed_when_that_is_shorter():
    url = "https://example.com/" + "newsletter/" * 40
    token = CODEC.sign_click(1, url)
    assert token.startswith(".")  # itsdangerous marks a compressed payload with a leading dot
    assert len(token) < len(url)
    assert CODEC.read_click(token).url == url


def test_click_and_open_tokens_are_not_interchangeable():
    with pytest.raises(BadToken):
        CODEC.read_open(CODEC.sign_click(1, "https://example.com/"))
    with pytest.raises(BadToken):
        CODEC.read_click(CODEC.sign_open(1))


def test_a_token_signed_with_another_key_does_not_verify():
    with pytest.raises(BadToken) as info:
        CODEC.read_click(TokenCodec(["other"]).sign_click(1, "https://example.com/"))
    assert info.value.token.startswith("Wz")


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


def test_token_with_an_unknown_format_version_is_refused():
    forged_version = URLSafeSerializer(["k1"], salt=TokenCodec.click_salt).dumps(
        [2, 1, "https://e/"]
    )
    with pytest.raises(BadToken, match="unknown token format"):
        CODEC.read_click(forged_version)


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
    fast = TokenCodec(["k1", "k0"])._click
    try:
        expected = reference.loads(token)
    except BadData:
        with pytest.raises(BadData):
            fast.loads(token)
    else:
        assert fast.loads(token) == expected
