"""Signing keys: configured, else one generated secret per machine or per cluster."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from edge.db.factory import store_for
from edge.serving.keys import signing_keys
from edge.tokens.codec import TokenCodec


def keys_of(settings) -> list[str]:
    async def go() -> list[str]:
        async with store_for(settings) as store:
            return await signing_keys(settings, store)

    return asyncio.run(go())


def test_configured_keys_are_used_as_given(settings):
    assert keys_of(replace(settings, secret_keys=("new", "old"))) == ["new", "old"]


def test_one_machine_generates_its_secret_once_in_the_data_directory(settings):
    one = replace(settings, secret_keys=())
    first = keys_of(one)
    assert keys_of(one) == first
    assert (one.data_dir / "secret_keys").read_text().split() == first


def test_nodes_of_a_cluster_share_the_secret_generated_in_its_database(settings, tmp_path, pg_url):
    a = replace(settings, secret_keys=(), database_url=pg_url, data_dir=tmp_path / "a")
    b = replace(a, data_dir=tmp_path / "b")
    keys = keys_of(a)
    assert keys_of(b) == keys and len(keys) == 1
    assert not (a.data_dir / "secret_keys").exists()
    # A link one node signs, the other verifies.
    url = TokenCodec(keys_of(a)).sign_click(1, "https://shop.example/")
    assert TokenCodec(keys_of(b)).read_click(url).url == "https://shop.example/"


def test_a_node_on_a_cluster_serves_links_signed_with_the_shared_secret(
    settings, tmp_path, pg_url, make_server
):
    cluster = replace(settings, secret_keys=(), database_url=pg_url)
    token = TokenCodec(keys_of(cluster)).sign_click(1, "https://shop.example/x")
    live = make_server(replace(cluster, data_dir=tmp_path / "node"))
    with live.client("track.test") as client:
        response = client.get(f"/e/{token}")
    assert (response.status_code, response.headers["location"]) == (302, "https://shop.example/x")
