"""The console's fixtures: a signed-in browser-like client on the admin host."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.fixtures_admin import AdminHarness

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: httpx.Client, key: str) -> httpx.Response:
    """Open the sign-in form, post ``key`` with its token; the answer to the POST."""
    form = client.get("/")
    return client.post("/signin", data={"api_key": key, "csrf_token": csrf_of(form.text)})


@pytest.fixture
def new_client(admin: AdminHarness) -> Iterator[Callable[..., httpx.Client]]:
    """``new_client(host="admin.test")``: a client of the live server, closed after the test."""
    made: list[httpx.Client] = []

    def make(host: str = "admin.test") -> httpx.Client:
        made.append(admin.live.client(host))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def new_client_of() -> Iterator[Callable[..., httpx.Client]]:
    """``new_client_of(live)``: a client of ``live`` on the admin host, closed after the test."""
    made: list[httpx.Client] = []

    def make(live, host: str = "admin.test") -> httpx.Client:
        made.append(live.client(host))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def browser(admin: AdminHarness, new_client) -> httpx.Client:
    """A client on the admin host, signed in as account ``acme``."""
    client = new_client()
    answer = sign_in(client, admin.key("acme"))
    assert answer.status_code == 303
    return client
