"""The fast token path makes exactly the tokens plain itsdangerous makes.

``edge/signing.py`` caches per-key work and writes ``dumps`` out by hand, and
``edge.tokens.safe_url`` reads the host without ``urlsplit`` in the usual case; neither may
change a single byte of a token, nor which URLs are accepted.
"""

from __future__ import annotations

import string
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import BadSignature, URLSafeSerializer

from edge.domains import TrackingHost
from edge.hosts import normalise_host
from edge.links import LinkBuilder
from edge.signing import CachedURLSafeSerializer
from edge.tokens import FORMAT_VERSION, TokenCodec, UnsafeURL, safe_url

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


def test_codec_tokens_load_with_plain_itsdangerous() -> None:
    codec = TokenCodec(["new", "old"])
    token = codec.sign_click(3, "https://example.com/a?b=1", message="m", link="hero")
    plain = URLSafeSerializer(["old", "new"], salt=TokenCodec.click_salt)
    assert plain.loads(token) == [FORMAT_VERSION, 3, "https://example.com/a?b=1", "m", None, "hero"]


def test_tokens_of_plain_itsdangerous_and_of_old_keys_still_verify() -> None:
    old_token = URLSafeSerializer(["old"], salt=TokenCodec.click_salt).dumps(
        [FORMAT_VERSION, 3, "https://example.com/"]
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
    parts = urlsplit(url)
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
    except ValueError as exc:  # urlsplit on a broken IPv6 literal
        return ("value-error", str(exc))


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
