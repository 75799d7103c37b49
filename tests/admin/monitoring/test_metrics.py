"""``/metrics``: Prometheus text with the node's and the cluster's figures, token only."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from admin.ssl.local_ca import LocalCA
from edge.tokens.codec import TokenCodec
from tests.conftest import SECRET
from tests.fixtures_https import put_certificate

TOKEN = "metrics-token"


@pytest.fixture
def live_server(settings, make_server):
    return make_server(replace(settings, metrics_token=TOKEN))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}"])
def test_metrics_are_refused_without_the_token(live_server, authorization):
    headers = {"authorization": authorization} if authorization else {}
    with live_server.client("admin.test") as client:
        assert client.get("/metrics", headers=headers).status_code == 404


def test_metrics_are_off_when_no_token_is_configured(settings, make_server):
    live = make_server(settings)
    with live.client("admin.test") as client:
        response = client.get("/metrics", headers={"authorization": "Bearer anything"})
    assert response.status_code == 404


def test_metrics_count_requests_by_kind_and_status_and_certificates_by_expiry(live_server):
    codec = TokenCodec([SECRET])
    with live_server.client("track.test") as track:
        assert track.get(f"/e/{codec.sign_click(1, 'https://a.example/')}").status_code == 302
        assert track.get("/e/forged").status_code == 404
        assert track.get(f"/o/{codec.sign_open(1)}").status_code == 200
    with live_server.client("nowhere.test") as other:
        assert other.get("/e/x").status_code == 404
    settings = live_server.app.runtime.settings
    issued = LocalCA(settings.data_dir / "ca", validity=timedelta(days=30)).issue_now("track.test")
    put_certificate(settings, "track.test", issued.chain_pem, issued.key_pem)
    with live_server.client("admin.test") as client:
        response = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(response.text)
    requests = {k[1]: v for k, v in found.items() if k[0] == "edge_requests_total"}
    assert requests[(("kind", "click"), ("status", "302"))] == 1
    assert requests[(("kind", "click"), ("status", "404"))] == 1
    assert requests[(("kind", "open"), ("status", "200"))] == 1
    assert requests[(("kind", "unknown_host"), ("status", "404"))] == 1
    assert found[("edge_database_up", ())] == 1
    assert found[("edge_webhook_backlog", ())] == 0
    assert 29 < found[("edge_certificate_expiry_days", (("domain", "track.test"),))] <= 30
    assert ("edge_spool_backlog_bytes", ()) in found
    assert ("edge_ingest_lag_seconds", ()) in found
