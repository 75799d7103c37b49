"""The fast token path makes exactly the tokens plain itsdangerous makes.

``edge/signing.py`` caches per-key work and writes ``dumps`` out by hand, and
``edge.tokens.safe_url`` reads the host without ``urlsplit`` in the usual case; neither may
change a single byte of a token, nor which URLs are accepted.
"""

from __future__ import annotations

import json
import re
import string
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from itsdangerous import BadData, BadSignature, URLSafeSerializer

from edge.hosts import normalise_host
from edge.serving.domains import TrackingHost
from edge.tokens.codec import FORMAT_1, TokenCodec, UnsafeURL, safe_url
from edge.tokens.links import LinkBuilder
from edge.tokens.signing import (
    ABBREVIATIONS,
    CachedURLSafeSerializer,
    CompactSerializer,
    Format2Serializer,
    abbreviate,
    abbreviate_unquoted,
    expand,
)

SALT = b"tracking-edge.click"

scalars = st.one_of(st.none(), st.integers(), st.text(), st.booleans(), st.floats(allow_nan=False))
payloads = st.one_of(
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=300)), max_size=8),
    st.recursive(scalars, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)),
)


def utf8_encodable(value) -> bool:
    try:
        URLSafeSerializer(["k"]).dumps(value)
    except UnicodeEncodeError:  # lone surrogates: refused by both alike
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(payloads)
def test_dumps_is_byte_identical_to_itsdangerous(payload) -> None:
    if not utf8_encodable(payload):
        return
    keys = ["older-secret", "newest-secret"]
    assert CachedURLSafeSerializer(keys, salt=SALT).dumps(payload) == URLSafeSerializer(
        keys, salt=SALT
    ).dumps(payload)


def test_dumps_refuses_a_lone_surrogate_like_itsdangerous() -> None:
    with pytest.raises(UnicodeEncodeError):
        URLSafeSerializer(["k"]).dumps(["\ud800"])
    with pytest.raises(UnicodeEncodeError):
        CachedURLSafeSerializer(["k"]).dumps(["\ud800"])


def test_compressed_and_uncompressed_tokens_both_match() -> None:
    short = [1, 2, "http://a.b/"]
    repetitive = [1, 2, "https://example.com/" + "abc" * 100]
    for payload in (short, repetitive):
        ours = CachedURLSafeSerializer(["k"], salt=SALT).dumps(payload)
        assert ours == URLSafeSerializer(["k"], salt=SALT).dumps(payload)
    assert not CachedURLSafeSerializer(["k"], salt=SALT).dumps(short).startswith(".")
    assert CachedURLSafeSerializer(["k"], salt=SALT).dumps(repetitive).startswith(".")


def test_format_1_tokens_of_the_fast_path_load_with_plain_itsdangerous_and_the_codec() -> None:
    payload = [FORMAT_1, 3, "https://example.com/a?b=1", "m", None, "hero"]
    token = CachedURLSafeSerializer(["old", "new"], salt=TokenCodec.click_salt).dumps(payload)
    plain = URLSafeSerializer(["old", "new"], salt=TokenCodec.click_salt)
    assert plain.loads(token) == payload
    assert TokenCodec(["new"]).read_click(token).link == "hero"


def test_tokens_of_plain_itsdangerous_and_of_old_keys_still_verify() -> None:
    old_token = URLSafeSerializer(["old"], salt=TokenCodec.click_salt).dumps(
        [FORMAT_1, 3, "https://example.com/"]
    )
    codec = TokenCodec(["new", "old"])
    assert codec.read_click(old_token).url == "https://example.com/"
    # And the derived-key cache does not let a token of another key through.
    foreign = URLSafeSerializer(["other"], salt=TokenCodec.click_salt).dumps([1, 3, "http://x.y/"])
    with pytest.raises(BadSignature):
        CachedURLSafeSerializer(["new", "old"], salt=TokenCodec.click_salt).loads(foreign)


def reference_safe_url(url: str) -> str:
    """safe_url without the fast path: urlsplit for everything.

    Stripped of C0 controls and space only (as browsers strip), and a non-ASCII host in
    A-labels; the authority ends at a backslash, as a browser's does (WHATWG URL §4.4).
    """
    url = url.strip("".join(map(chr, range(0x21))))
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise UnsafeURL("URL contains control characters", url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # a broken IPv6 literal: refused like any unsafe URL
        raise UnsafeURL(str(exc), url) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeURL("only http and https URLs can be tracked", url)
    if not parts.hostname:
        raise UnsafeURL("URL has no host", url)
    if not url.isascii() or " " in url:
        authority = parts.netloc.split("\\")[0]
        userinfo, at, host_port = authority.rpartition("@")
        host, colon, port = host_port.partition(":")
        if not host.isascii() and not host.startswith("["):
            name = normalise_host(host)
            if name is None:
                raise UnsafeURL("URL host is not a valid domain name", url)
            start = len(parts.scheme) + 3  # "scheme://"
            assert url[start:].startswith(authority)
            rest = url[start + len(authority) :]
            url = f"{url[:start]}{userinfo}{at}{name}{colon}{port}{rest}"
        url = quote(url, safe="!#$%&'()*+,/:;=?@[]~")
    return url


def outcome(function, url: str):
    try:
        return ("ok", function(url))
    except UnsafeURL as exc:
        return ("unsafe", str(exc))


url_parts = st.sampled_from(
    ["http", "https", "HTTPS", "ftp", "http:", "://", "//", "/", "@", ":", "[", "]", "::1",
     "?", "#", " ", "é", "user:pw@", ":8080", "example.com", "\t", "\x7f", "%20", "a"]
)  # fmt: skip
urls = st.lists(url_parts | st.text(string.printable, max_size=4), max_size=10).map("".join)


@settings(max_examples=500, deadline=None)
@given(urls)
def test_safe_url_accepts_and_returns_exactly_what_urlsplit_did(url: str) -> None:
    assert outcome(safe_url, url) == outcome(reference_safe_url, url)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@Example.COM:8443/a?b#c",
        "http://[::1]:8000/x",
        "http://[::1/x",
        "https://@/x",
        "https://:80/x",
        "http:/example.com/",
        "HTTP://example.com",
        "https://exämple.com/ä ö",
        "https://example.com\uff03@evil.com/",
    ],
)
def test_safe_url_matches_urlsplit_on_awkward_authorities(url: str) -> None:
    assert outcome(safe_url, url) == outcome(reference_safe_url, url)


@pytest.mark.parametrize(
    ("target", "scheme"),
    [("https://a.b/", "https"), ("HTTPS://a.b/", "https"), (" http://a.b/", "http")],
)
def test_click_url_keeps_https_targets_on_https(target: str, scheme: str) -> None:
    links = LinkBuilder(TokenCodec(["k"]))
    url = links.click_url(TrackingHost("t.example", None, False, True), 1, target)
    assert url.startswith(f"{scheme}://t.example/e/")


# -- format 2 ----------------------------------------------------------------------------

format_2_payloads = st.lists(
    st.one_of(st.none(), st.integers(), st.text(max_size=300)), min_size=1, max_size=8
)


@settings(max_examples=300, deadline=None)
@given(format_2_payloads)
def test_format_2_round_trips_any_payload(payload) -> None:
    if not utf8_encodable(payload):
        return
    serializer = CompactSerializer(["k"], SALT)
    token = serializer.dumps(payload)
    assert re.fullmatch(r"2[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{22}", token)
    assert serializer.loads(token) == payload


@settings(max_examples=300, deadline=None)
@given(format_2_payloads)
def test_format_2_is_byte_identical_to_plain_itsdangerous(payload) -> None:
    if not utf8_encodable(payload):
        return
    fast, reference = (
        CompactSerializer(["new", "old"], SALT),
        Format2Serializer(["new", "old"], SALT),
    )
    token = fast.dumps(payload)
    assert token == reference.dumps(payload)
    assert reference.loads(token) == payload


def test_format_2_tokens_of_plain_itsdangerous_and_of_old_keys_verify_on_the_fast_path() -> None:
    long_url = "https://shop.example.com/p/1?" + "&".join(f"k{i}=v{i}" for i in range(40))
    for payload in ([2, 7, "https://example.com/"], [2, 7, long_url, "m", None, "l"]):
        old_token = Format2Serializer(["old"], SALT).dumps(payload)
        assert CompactSerializer(["new", "old"], SALT).loads(old_token) == payload
        with pytest.raises(BadSignature):
            CompactSerializer(["new"], SALT).loads(old_token)
        with pytest.raises(BadSignature):  # another salt is another key
            CompactSerializer(["old"], b"tracking-edge.open").loads(old_token)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_abbreviations_expand_back_to_any_json_text(value: str) -> None:
    text = json.dumps([2, 1, value, "https://www.x.com/?utm_source=email"], ensure_ascii=False)
    assert expand(abbreviate(text)) == text


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(
        st.sampled_from([*ABBREVIATIONS, "www.com/", "[2,null", ",nullink-"]) | st.text(max_size=3),
        max_size=8,
    ).map("".join)
)
def test_abbreviating_a_text_without_quotes_skips_only_what_cannot_occur_in_it(text) -> None:
    text = text.replace('"', "")
    assert abbreviate_unquoted(text) == abbreviate(text)


def test_every_abbreviation_is_one_control_byte_that_json_never_writes() -> None:
    assert len(ABBREVIATIONS) <= 31 and len(set(ABBREVIATIONS)) == len(ABBREVIATIONS)
    for code in range(1, 32):
        assert json.dumps(chr(code), ensure_ascii=False) != f'"{chr(code)}"'
    assert abbreviate('[2,7,"https://www.a.com/",null]') == '\x017\x02\x06a\n"\x05]'


def test_changing_any_character_of_a_format_2_token_fails_verification() -> None:
    serializer = CompactSerializer(["k"], SALT)
    token = serializer.dumps([2, 7, "https://example.com/?utm_source=email", "m", None, "l"])
    for i, char in enumerate(token):
        for other in ("A", "z", "-", "."):
            if other != char:
                with pytest.raises(BadData):
                    serializer.loads(token[:i] + other + token[i + 1 :])


def test_a_format_2_tag_has_exactly_one_spelling() -> None:
    serializer = CompactSerializer(["k"], SALT)
    token = serializer.dumps([2, 1, "https://a.example/"])
    # 16 bytes take 22 base64 characters whose last one has 4 unused bits: a lenient decoder
    # would accept other last characters, so the tag is compared as text.
    last = token[-1]
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    sibling = alphabet[alphabet.index(last) ^ 1]
    with pytest.raises(BadSignature):
        serializer.loads(token[:-1] + sibling)


def test_format_2_newest_key_signs_every_key_verifies_salts_apart() -> None:
    old = CompactSerializer(["old"], SALT).dumps([2, 1, "https://a.example/"])
    rotated = CompactSerializer(["new", "old"], SALT)
    assert rotated.loads(old) == [2, 1, "https://a.example/"]
    assert rotated.dumps([2, 1]) == CompactSerializer(["new"], SALT).dumps([2, 1])
    with pytest.raises(BadSignature):
        CompactSerializer(["old"], SALT).loads(rotated.dumps([2, 1]))
    with pytest.raises(BadSignature):
        CompactSerializer(["old"], b"another-salt").loads(old)


@pytest.mark.parametrize(
    "token", ["", "2", "2.", "2abc", "Wz.abc", "2abc.\u00fc", "2\u00fc.abcdefghijklmnopqrstuv"]
)
def test_format_2_refuses_malformed_tokens(token: str) -> None:
    with pytest.raises(BadSignature):
        CompactSerializer(["k"], SALT).loads(token)


@pytest.mark.parametrize("secure", [True, False])
@pytest.mark.parametrize("ports", [(80, 443), (8080, 8443)])
def test_click_urls_for_one_message_are_the_click_urls_made_one_by_one(secure, ports) -> None:
    links = LinkBuilder(TokenCodec(["k"]), http_port=ports[0], https_port=ports[1])
    host = TrackingHost("t.example", 3, secure, True)
    click_url = links.click_urls(host, 3, message="m", recipient="ada@example.com")
    for target in ("https://a.b/", "http://a.b/x", " HTTPS://a.b/?q=1", "http://a.b/é"):
        for name in ("hero", None):
            assert click_url(target, name) == links.click_url(
                host, 3, target, message="m", recipient="ada@example.com", link=name
            )


@settings(max_examples=500, deadline=None)
@given(urls, st.booleans())
@example("HTTPS://a.example/x", False)
@example(" https://a.example/é ", False)
@example("http://a.example/x", True)
def test_checked_click_urls_of_safe_urls_are_the_click_urls_of_the_urls(url, secure) -> None:
    # The rewriter hands "checked" click_urls what safe_url() returned (or what it returns
    # unchanged): safe_url() must keep its own output, and the scheme be read alike.
    links = LinkBuilder(TokenCodec(["k"]), http_port=8080, https_port=8443)
    host = TrackingHost("t.example", 3, secure, True)
    kind, safe = outcome(safe_url, url)
    if kind != "ok":
        return
    assert safe_url(safe) == safe
    checked = links.click_urls(host, 3, message="m", checked=True)
    assert checked(safe, "n") == links.click_urls(host, 3, message="m")(url, "n")
