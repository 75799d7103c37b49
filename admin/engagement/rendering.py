"""How stored events and webhook endpoints look in the API's JSON (and in webhook bodies)."""

from __future__ import annotations

import time
from typing import Any

from edge.model.events import StoredEvent
from edge.model.webhooks import Endpoint


def event_json(event: StoredEvent) -> dict[str, Any]:
    """One stored event as webhooks and the events API render it."""
    ts_ms = event.ts_ms
    return {
        "id": event.id,
        "type": event.type,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms / 1000))
        + f".{ts_ms % 1000:03d}Z",
        "ts_ms": ts_ms,
        "domain": event.domain,
        "message": event.message,
        "recipient": event.recipient,
        "link": event.link,
        "url": event.url,
        "client_ip": event.client_ip,
        "user_agent": event.user_agent,
        "method": event.method,
        "prefetch": bool(event.prefetch),
        "verdict": event.verdict,
        "rule": event.rule,
    }


def endpoint_json(endpoint: Endpoint) -> dict[str, Any]:
    """An endpoint as the API shows it (never its secret)."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "active": endpoint.active,
        "created_at": endpoint.created_at,
        "status": {
            "backlog": endpoint.backlog,
            "delivered": endpoint.delivered,
            "expired": endpoint.expired,
            "consecutive_failures": endpoint.failures,
            "next_attempt_ms": endpoint.retry_at_ms or None,
            "last_success_ms": endpoint.last_success_ms,
            "last_error_ms": endpoint.last_error_ms,
            "last_error": endpoint.last_error,
        },
    }
