"""ISO 8601 times as the admin API and CLI show and read them (one helper each)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from admin.api.timestamps import iso_utc, parse_iso_ms


def test_seconds_and_aware_datetimes_are_shown_in_utc_to_the_second():
    assert iso_utc(1_700_000_000.75) == "2023-11-14T22:13:20Z"
    plus_two = timezone(timedelta(hours=2))
    assert iso_utc(datetime(2026, 11, 2, 12, 0, 5, tzinfo=plus_two)) == "2026-11-02T10:00:05Z"
    assert iso_utc(datetime(2026, 11, 2, tzinfo=UTC)) == "2026-11-02T00:00:00Z"
    assert iso_utc(None) is None


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-11-02T10:00:00Z", 1_793_613_600_000),
        ("2026-11-02T10:00:00z", 1_793_613_600_000),
        (" 2026-11-02T12:00:00+02:00 ", 1_793_613_600_000),
        ("2026-11-02T10:00:00", 1_793_613_600_000),
        ("2026-11-02", 1_793_577_600_000),
        ("2026-11-02T10:00:00.250Z", 1_793_613_600_250),
    ],
)
def test_iso_times_are_read_as_milliseconds_utc_when_no_zone(text, ms):
    assert parse_iso_ms(text) == ms


@pytest.mark.parametrize("text", ["yesterday", "", "2026-13-01"])
def test_what_is_not_an_iso_time_is_a_value_error(text):
    with pytest.raises(ValueError):
        parse_iso_ms(text)


def test_shown_times_read_back_to_the_same_second():
    assert parse_iso_ms(iso_utc(1_700_000_000)) == 1_700_000_000_000


def test_years_before_1000_keep_their_four_digits():
    # strftime's %Y drops them on glibc: "55-12-16T00:00:00Z" is no ISO 8601 time.
    assert iso_utc(datetime(55, 12, 16, tzinfo=UTC)) == "0055-12-16T00:00:00Z"
    assert iso_utc(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"
