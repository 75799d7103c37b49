"""The tracking app queues each event as its spool row, built without an Event: the row must
be in the order of the Event's fields (what the ingester reads it back as)."""

from __future__ import annotations

from edge.model.domains import TrackingHost
from edge.model.events import Event
from edge.serving.tracking import TrackingApp
from edge.tokens.codec import TokenCodec

CODEC = TokenCodec(["row-secret"])
HOST = TrackingHost("track.example", 7, False, True)


class Rows:
    """An EventRecorder stand-in that keeps the rows it is given."""

    def __init__(self) -> None:
        self.rows: list[tuple[object, ...]] = []

    def record_row(self, row: tuple[object, ...]) -> None:
        self.rows.append(row)


def recorded(method: str, path: str) -> Event:
    rows = Rows()
    app = TrackingApp(CODEC, rows)  # type: ignore[arg-type]
    headers = [(b"host", b"track.example"), (b"user-agent", b"Agent/1.0")]
    app.reply(method, path, headers, ("192.0.2.1", 5000), HOST)
    (row,) = rows.rows
    return Event(*row)


def test_a_click_row_holds_each_field_in_its_place():
    token = CODEC.sign_click(7, "https://example.com/a", message="m1", recipient="r1", link="l1")
    event = recorded("HEAD", f"/e/{token}")
    assert (event.type, event.account_id, event.domain) == ("click", 7, "track.example")
    assert (event.message, event.recipient, event.link) == ("m1", "r1", "l1")
    assert (event.url, event.client_ip, event.user_agent) == (
        "https://example.com/a",
        "192.0.2.1",
        "Agent/1.0",
    )
    assert (event.method, event.prefetch) == ("HEAD", True)
    assert len(event.id) == 38 and isinstance(event.ts_ms, int)


def test_an_open_row_holds_each_field_in_its_place():
    token = CODEC.sign_open(7, message="m2", recipient="r2", kind="initial_open")
    event = recorded("GET", f"/o/{token}")
    assert (event.type, event.account_id, event.message, event.recipient) == (
        "initial_open",
        7,
        "m2",
        "r2",
    )
    assert (event.link, event.url, event.method, event.prefetch) == (None, None, "GET", False)
