"""A real webhook receiver: uvicorn on a loopback port, recording every request it gets.

``webhook_receiver.url`` is its address. ``mode`` decides the answer: ``"up"`` (200),
``"down"`` (503), ``"hold"`` (the request is recorded, then left unanswered until the mode
changes: a receiver that got the batch while the sender died). ``wait_for(n)`` polls, with a
bounded deadline, until ``n`` distinct event ids have been received with a 200.
``make_webhook_receiver(host, port)`` starts more, e.g. one on ``127.0.0.2`` and another on
``127.0.0.1`` at the same port, to see which address a request went to.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn

from tests.conftest import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def event_ids(self) -> list[str]:
        return [e["id"] for e in json.loads(self.body)["events"]]


@dataclass
class WebhookReceiver:
    port: int
    host: str = "127.0.0.1"
    mode: str = "up"
    requests: list[Received] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        record = Received(headers, body, 0)
        self.requests.append(record)
        while self.mode == "hold":
            await asyncio.sleep(0.01)
        record.answered = 200 if self.mode == "up" else 503
        await send({"type": "http.response.start", "status": record.answered, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def start(self) -> None:
        config = uvicorn.Config(
            self, host=self.host, port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("webhook receiver failed to start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self.mode = "down"  # releases held requests
            self._server.should_exit = True
            assert self._thread is not None
            self._thread.join(timeout=10)
            self._server = None

    def delivered_ids(self) -> list[str]:
        """Event ids of every request answered 200, in arrival order (duplicates kept)."""
        return [i for r in self.requests if r.answered == 200 for i in r.event_ids]

    def wait_for(self, n: int, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(set(self.delivered_ids())) >= n:
                return self.delivered_ids()
            time.sleep(0.02)
        raise AssertionError(
            f"receiver got {len(set(self.delivered_ids()))} distinct events, expected {n}"
        )

    def wait_for_requests(self, n: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver got {len(self.requests)} requests, expected {n}")
            time.sleep(0.02)


@pytest.fixture
def make_webhook_receiver() -> Iterator[Callable[..., WebhookReceiver]]:
    """Factory: ``make_webhook_receiver(host="127.0.0.1", port=None)``; stopped after the test."""
    started: list[WebhookReceiver] = []

    def make(host: str = "127.0.0.1", port: int | None = None) -> WebhookReceiver:
        receiver = WebhookReceiver(port or free_port(), host)
        receiver.start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


@pytest.fixture
def webhook_receiver(make_webhook_receiver) -> WebhookReceiver:
    return make_webhook_receiver()
