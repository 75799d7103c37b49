"""Host normalisation: one canonical key per tracking domain."""

from __future__ import annotations

import pytest

from edge.hosts import HostCache, normalise_host


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("track.brand.com", "track.brand.com"),
        ("Track.Brand.COM", "track.brand.com"),
        ("track.brand.com.", "track.brand.com"),
        ("track.brand.com:8080", "track.brand.com"),
        ("TRACK.brand.com.:443", "track.brand.com"),
        (b"track.brand.com", "track.brand.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example.:80", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("bücher.example".encode(), "xn--bcher-kva.example"),
        ("track.brand.com\u3002", "track.brand.com"),  # an ideographic full stop, trailing
        ("bücher.example\uff0e".encode(), "xn--bcher-kva.example"),
        ("127.0.0.1:8000", "127.0.0.1"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
    ],
)
def test_host_is_normalised(raw, expected):
    assert normalise_host(raw) == expected


@pytest.mark.parametrize(
    "raw", [None, "", "   ", ".", "\u3002", "host:port", b"\xff\xfe", "[", "a_b\u0000.com"]
)
def test_what_is_not_a_host_name_normalises_to_none(raw):
    assert normalise_host(raw) is None


def test_host_cache_answers_like_normalise_host_and_stays_bounded():
    cache = HostCache()
    cache.max_size = 3
    assert cache(b"A.example.com") == "a.example.com"
    for i in range(10):
        cache(f"h{i}.example.com".encode())
    assert len(cache._cache) <= 3
    assert cache(b"A.example.com:80") == "a.example.com"


@pytest.mark.parametrize("raw", ["evil.com/x", "a b.com", "a\r\nb.com", "exa$mple.com"])
def test_characters_no_host_name_has_are_refused(raw):
    assert normalise_host(raw) is None
