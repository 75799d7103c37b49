"""URLs in the plain-text part: where each one starts and ends."""

from __future__ import annotations

import time

import pytest

from edge.rewrite.textlinks import find_urls


def urls(text: str) -> list[str]:
    return [text[start:end] for start, end in find_urls(text)]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("see https://a.example/x.", ["https://a.example/x"]),
        ("see https://a.example/x, then", ["https://a.example/x"]),
        ("is it https://a.example/x?", ["https://a.example/x"]),
        ("go https://a.example/x!", ["https://a.example/x"]),
        ("end https://a.example/x...", ["https://a.example/x"]),
        ("quote 'https://a.example/x'", ["https://a.example/x"]),
        ('say "https://a.example/x"', ["https://a.example/x"]),
        ("keep https://a.example/?q=1&r=2 ok", ["https://a.example/?q=1&r=2"]),
    ],
)
def test_trailing_punctuation_is_not_part_of_the_url(text: str, found: list[str]) -> None:
    assert urls(text) == found


def test_closing_bracket_of_the_sentence_is_not_part_of_the_url() -> None:
    assert urls("(see https://a.example/x)") == ["https://a.example/x"]
    assert urls("[https://a.example/x]") == ["https://a.example/x"]


def test_balanced_brackets_inside_the_url_are_kept() -> None:
    text = "https://en.wikipedia.org/wiki/Mercury_(planet)"
    assert urls(text) == [text]
    assert urls(f"({text})") == [text]


def test_angle_bracket_delimited_url_is_taken_whole() -> None:
    assert urls("at <https://a.example/x.>.") == ["https://a.example/x."]
    assert urls("<URL:https://a.example/y?>") == ["https://a.example/y?"]


def test_only_http_and_https_any_case() -> None:
    text = "ftp://a.example/ mailto:x@y.example HTTP://B.EXAMPLE/ Https://c.example/ www.d.example"
    assert urls(text) == ["HTTP://B.EXAMPLE/", "Https://c.example/"]


def test_url_ends_at_white_space_and_quotes() -> None:
    assert urls('a https://a.example/x\nhttps://b.example/y\t"c') == [
        "https://a.example/x",
        "https://b.example/y",
    ]


def test_scheme_alone_is_not_a_url() -> None:
    assert urls("https:// and http://. here") == []


def test_offsets_point_into_the_text() -> None:
    text = "one https://a.example two"
    assert list(find_urls(text)) == [(4, 21)]


def test_a_url_ending_in_many_closers_is_trimmed_in_linear_time() -> None:
    text = "https://a.example/" + ")" * 100_000
    started = time.perf_counter()
    assert urls(text) == ["https://a.example/"]
    assert time.perf_counter() - started < 2  # quadratic took about 7 s
