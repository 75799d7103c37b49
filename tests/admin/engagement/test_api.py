"""Stats, privacy switches and message labels over the wire, on the admin host."""

from __future__ import annotations

import pytest

from tests.fixtures_engagement import (
    APPLE_IP,
    APPLE_MPP,
    EOP_IP,
    HOUR,
    T0,
    api_client,
    event,
    record_live,
)

FROM = "2026-11-02T00:00:00Z"
TO = "2026-11-03T00:00:00Z"


def test_stats_require_an_api_key(live_server):
    with live_server.client("admin.test") as c:
        r = c.get("/api/v1/engagement/stats", params={"from": FROM})
    assert r.status_code == 401
    assert r.json() == {
        "errors": [
            {
                "message": "Unauthorized.",
                "description": "An API key is required in the Authorization header.",
            }
        ]
    }


def test_stats_over_the_wire_count_what_the_edge_recorded(live_server, engagement_account):
    key, account = engagement_account("acme")
    record_live(
        live_server,
        [
            event("open", T0 + 10 * HOUR, account=account),
            event(
                "open",
                T0 + 10 * HOUR + 5000,
                recipient="r2",
                ip=APPLE_IP,
                ua=APPLE_MPP,
                account=account,
            ),
            event("click", T0 + 11 * HOUR, link="buy", account=account),
            event("click", T0 + 11 * HOUR, recipient="r3", link="buy", ip=EOP_IP, account=account),
        ],
    )
    with api_client(live_server, key) as c:
        r = c.get(
            "/api/v1/engagement/stats",
            params={"from": FROM, "to": TO, "group_by": "day", "domain": "a.test"},
        )
    assert r.status_code == 200
    totals = {
        "opens": 1,
        "initial_opens": 0,
        "unique_opens": 1,
        "machine_opens": 1,
        "proxied_opens": 0,
        "clicks": 1,
        "unique_clicks": 1,
        "scanner_clicks": 1,
        "bot_clicks": 0,
        "click_to_open_rate": 1.0,
    }
    assert r.json() == {
        "results": {
            "from": FROM,
            "to": TO,
            "group_by": "day",
            "include_machine": False,
            "totals": totals,
            "series": [{"time": FROM, **totals}],
            "top_links": [{"link": "buy", "clicks": 1, "unique_clicks": 1}],
        }
    }


def test_stats_of_another_account_see_nothing(live_server, engagement_account):
    _, acme = engagement_account("acme")
    other_key, _ = engagement_account("other")
    record_live(live_server, [event("open", T0 + HOUR, account=acme)])
    with api_client(live_server, other_key) as c:
        r = c.get("/api/v1/engagement/stats", params={"from": FROM, "to": TO})
    assert r.json()["results"]["totals"]["opens"] == 0


def test_stats_refuse_a_bad_time_with_the_error_shape(live_server, engagement_account):
    key, _ = engagement_account()
    with api_client(live_server, key) as c:
        r = c.get("/api/v1/engagement/stats", params={"from": "yesterday"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "1300"


@pytest.mark.parametrize(
    ("params", "name", "end"),
    [
        # Widened to whole hours, the range would end in the year 10000 (a 500 before).
        ({"from": "9999-12-30T22:00:00Z", "to": "9999-12-31T23:30:00Z"}, "to", "to"),
        ({"from": "9999-12-30", "to": "9999-12-31T00:00:01Z", "group_by": "day"}, "to", "to"),
        # In UTC, the year 0.
        ({"from": "0001-01-01T00:30:00+01:00", "to": "2026-11-02"}, "from", "from"),
    ],
)
def test_stats_refuse_a_range_outside_the_years_1_to_9999(
    live_server, engagement_account, params, name, end
):
    key, _ = engagement_account()
    with api_client(live_server, key) as c:
        r = c.get("/api/v1/engagement/stats", params=params)
    assert r.status_code == 422
    assert r.json()["errors"][0]["description"] == (
        f"'{name}' must be from 0001-01-01 to 9999-12-31 (UTC)"
    )


def test_stats_show_early_years_with_four_digits(live_server, engagement_account):
    key, _ = engagement_account()
    with api_client(live_server, key) as c:
        r = c.get(
            "/api/v1/engagement/stats",
            params={"from": "0055-12-16", "to": "0055-12-17", "group_by": "day"},
        )
    assert r.status_code == 200
    body = r.json()["results"]
    assert (body["from"], body["to"]) == ("0055-12-16T00:00:00Z", "0055-12-17T00:00:00Z")
    assert [p["time"] for p in body["series"]] == ["0055-12-16T00:00:00Z"]


def test_stats_end_at_the_epoch_when_asked_to(live_server, engagement_account):
    # 0 ms is a time too: it was read as "no end" and the range ran until now.
    key, _ = engagement_account()
    with api_client(live_server, key) as c:
        r = c.get(
            "/api/v1/engagement/stats",
            params={"from": "1969-12-31", "to": "1970-01-01T00:00:00Z", "group_by": "hour"},
        )
    assert r.status_code == 200
    body = r.json()["results"]
    assert (body["from"], body["to"]) == ("1969-12-31T00:00:00Z", "1970-01-01T00:00:00Z")
    assert len(body["series"]) == 24


def test_stats_need_from(live_server, engagement_account):
    key, _ = engagement_account()
    with api_client(live_server, key) as c:
        r = c.get("/api/v1/engagement/stats")
    assert r.status_code == 422
    assert r.json()["errors"][0]["description"] == "field 'from' is required"


def test_privacy_settings_apply_to_events_recorded_after(live_server, engagement_account):
    key, account = engagement_account()
    with api_client(live_server, key) as c:
        r = c.put(
            "/api/v1/engagement/settings", json={"client_ip": "truncated", "user_agent": "none"}
        )
        assert r.json() == {
            "results": {
                "client_ip": "truncated",
                "user_agent": "none",
                "track_opens": True,
                "track_clicks": True,
            }
        }
        record_live(live_server, [event("open", T0, account=account)])
        r = c.get("/api/v1/engagement/events")
    [stored] = r.json()["results"]
    assert (stored["client_ip"], stored["user_agent"]) == ("203.0.113.0", None)


def test_privacy_settings_refuse_unknown_modes(live_server, engagement_account):
    key, _ = engagement_account()
    with api_client(live_server, key) as c:
        r = c.put("/api/v1/engagement/settings", json={"client_ip": "hashed"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["description"] == (
        "'client_ip' must be one of full, truncated, none"
    )


def test_message_labels_feed_the_campaign_filter(live_server, engagement_account):
    key, account = engagement_account()
    record_live(
        live_server,
        [
            event("open", T0 + HOUR, account=account),
            event("open", T0 + HOUR, message="m2", account=account),
        ],
    )
    with api_client(live_server, key) as c:
        r = c.put(
            "/api/v1/engagement/messages/m1",
            json={"campaign": "spring", "tags": ["news", "news", "eu"]},
        )
        assert r.json() == {
            "results": {"message": "m1", "campaign": "spring", "tags": ["eu", "news"]}
        }
        r = c.get("/api/v1/engagement/stats", params={"from": FROM, "to": TO, "campaign": "spring"})
    assert r.json()["results"]["totals"]["opens"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [(b'{"tags": ["ok", "\\ud800"]}', "tags"), (b'{"campaign": "spring \\ud800"}', "campaign")],
)
def test_a_label_that_is_not_unicode_text_is_422_not_a_500(
    live_server, engagement_account, body, field
):
    key, _ = engagement_account("acme")
    with api_client(live_server, key) as c:
        r = c.put("/api/v1/engagement/messages/m1", content=body)
        labels = c.get("/api/v1/engagement/messages/m1").json()
    assert r.status_code == 422
    assert r.json() == {
        "errors": [
            {
                "code": "1300",
                "message": "invalid data format/type",
                "description": f"field '{field}' is not valid Unicode text",
            }
        ]
    }
    assert labels == {"results": {"message": "m1", "campaign": None, "tags": []}}
