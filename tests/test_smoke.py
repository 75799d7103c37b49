from __future__ import annotations


def test_admin_health_is_served_on_the_admin_host(live_server):
    with live_server.client("admin.test") as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    health = response.json()
    assert health.pop("domains_age_seconds") < 60  # the domain table's copy is fresh
    assert health == {
        "status": "ok",
        "database": "ok",
        "version": "0.1.0",
        "spool_backlog_bytes": 0,
        "redirects_served": 0,
        "pixels_served": 0,
        "events_pending": 0,
        "events_spooled": 0,
        "events_ingested": 0,
    }
