"""Times as the admin API and CLI show and read them: ISO 8601, UTC, whole seconds.

Shown as ``2026-11-02T10:00:00Z``. Read from any ISO 8601 date or time Python parses, with
``Z`` for UTC (``fromisoformat`` takes it only from Python 3.11 on for every form) and UTC
assumed when no zone is given.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def iso_utc(when: float | datetime) -> str: ...
@overload
def iso_utc(when: None) -> None: ...
def iso_utc(when: float | datetime | None) -> str | None:
    """``when`` (seconds since the epoch, or an aware datetime) as ISO 8601 UTC; ``None`` stays."""
    if when is None:
        return None
    if not isinstance(when, datetime):
        when = datetime.fromtimestamp(when, UTC)
    # Not strftime: "%Y" drops the leading zeros of years before 1000 (C's, on glibc).
    return when.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_iso(text: str) -> datetime:
    """The aware time an ISO 8601 date or time names; ``ValueError`` if it is not one."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def epoch_ms(when: datetime) -> int:
    """Milliseconds since the epoch."""
    return int(when.timestamp() * 1000)


def parse_iso_ms(text: str) -> int:
    """Milliseconds since the epoch for an ISO 8601 date or time; ``ValueError`` if it is not."""
    return epoch_ms(parse_iso(text))
