"""Request and response models of the engagement routes: stats, events, privacy switches,
message labels and webhook endpoints (refusal texts as the routes have always given them)."""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from msgspec import UNSET, Meta, Struct, UnsetType, field

from admin.api.contracts import Instant, Text, Time
from admin.api.fields import SPACE, Check, Messages
from admin.engagement.webhooks.endpoints import check_types, check_url
from edge.model.events import EVENT_TYPES
from edge.model.privacy import IP_MODES, UA_MODES, IpMode, UaMode

# The closed value sets of edge.model's EventType and VerdictKind, as the plain strings JSON
# carries, in the enums' order (a refused query lists them so). Spelt out for the type
# checker; tests/admin/engagement/test_contracts.py holds them to the enums.
EventType: TypeAlias = Literal["click", "open", "initial_open"]
Verdict: TypeAlias = Literal["human", "machine_open", "proxy_open", "scanner", "bot"]
Count = int
Filter = Text | None

# -- stats ----------------------------------------------------------------------------------


class StatsParams(Struct, kw_only=True):
    # Widened to whole hours (days with group_by=day), within 0001-01-01 and 9999-12-31.
    start: Annotated[
        Instant, Meta(description="start, ISO 8601 (inclusive), from 0001-01-01 (UTC)")
    ] = field(name="from")
    end: Annotated[
        Instant | None,
        Meta(description="end, ISO 8601 (exclusive), after from, by 9999-12-31; default now"),
    ] = field(default=None, name="to")
    domain: Annotated[Filter, Meta(description="tracking domain")] = None
    message: Annotated[Filter, Meta(description="message reference")] = None
    campaign: Annotated[Filter, Meta(description="campaign set on the message")] = None
    tag: Annotated[Filter, Meta(description="tag set on the message")] = None
    link: Annotated[Filter, Meta(description="link name (clicks only)")] = None
    include_machine: Annotated[
        bool, Meta(description="true: count machine, scanner and bot events too")
    ] = False
    top_links: Annotated[int, Meta(ge=0, le=100, description="how many top links")] = 10
    # Last: checked after the others, with the range, as it always was.
    group_by: Annotated[
        Literal["hour", "day"] | None,
        Messages("group_by must be hour or day"),
        Meta(description="a series by hour or by day (UTC)"),
    ] = None


class Metrics(Struct):
    """Counts of the range (``include_machine`` false counts people only)."""

    opens: Count
    initial_opens: Count
    unique_opens: Count
    machine_opens: Count
    proxied_opens: Count
    clicks: Count
    unique_clicks: Count
    scanner_clicks: Count
    bot_clicks: Count
    click_to_open_rate: Annotated[
        float | None, Meta(description="unique_clicks / unique_opens; null without opens")
    ]


class Point(Metrics):
    time: Time


class TopLink(Struct):
    link: str | None
    clicks: Count
    unique_clicks: Count


class Stats(Struct, kw_only=True):
    start: Time = field(name="from")
    end: Time = field(name="to")
    group_by: Literal["hour", "day"] | None
    include_machine: bool
    totals: Metrics
    series: list[Point] | UnsetType = UNSET
    top_links: list[TopLink]


# -- events ---------------------------------------------------------------------------------


class EventFilterParams(Struct, kw_only=True):
    start: Annotated[Instant | None, Meta(description="start, ISO 8601 (inclusive)")] = field(
        default=None, name="from"
    )
    end: Annotated[Instant | None, Meta(description="end, ISO 8601 (exclusive)")] = field(
        default=None, name="to"
    )
    types: Annotated[tuple[EventType, ...], Meta(description="comma-separated event types")] = (
        field(default=(), name="type")
    )
    verdicts: Annotated[tuple[Verdict, ...], Meta(description="comma-separated verdicts")] = field(
        default=(), name="verdict"
    )
    domain: Annotated[Filter, Meta(description="tracking domain")] = None
    message: Annotated[Filter, Meta(description="message reference")] = None
    recipient: Annotated[Filter, Meta(description="recipient reference")] = None
    link: Annotated[Filter, Meta(description="link name (clicks only)")] = None


class EventsParams(EventFilterParams, kw_only=True):
    limit: Annotated[int, Meta(ge=1, le=1000, description="page size")] = 100
    cursor: Annotated[Filter, Meta(description="next_cursor of the previous page")] = None


class ExportParams(EventFilterParams, kw_only=True):
    start: Annotated[Instant, Meta(description="start, ISO 8601 (inclusive)")] = field(name="from")
    end: Annotated[Instant, Meta(description="end, ISO 8601 (exclusive)")] = field(name="to")
    format: Annotated[Literal["ndjson", "csv"], Messages("'format' must be ndjson or csv")] = (
        "ndjson"
    )


class Event(Struct):
    """A recorded event, as the events API and webhooks send it."""

    id: str
    type: EventType
    time: Time
    ts_ms: int
    domain: str
    message: str | None
    recipient: str | None
    link: str | None
    url: str | None
    client_ip: str | None
    user_agent: str | None
    method: str
    prefetch: bool
    verdict: Verdict
    rule: str


class EventPage(Struct):
    results: list[Event]
    next_cursor: Annotated[str | None, Meta(description="null on the last page")]
    limit: int


# -- privacy switches and message labels ----------------------------------------------------


class Settings(Struct):
    client_ip: IpMode
    user_agent: UaMode
    track_opens: bool
    track_clicks: bool


class SettingsChange(Struct, kw_only=True):
    """The switches to change; those not given are kept."""

    client_ip: Annotated[
        IpMode | UnsetType, Messages(f"'{{field}}' must be one of {', '.join(IP_MODES)}")
    ] = UNSET
    user_agent: Annotated[
        UaMode | UnsetType, Messages(f"'{{field}}' must be one of {', '.join(UA_MODES)}")
    ] = UNSET
    track_opens: Annotated[bool | UnsetType, Messages("'{field}' must be true or false")] = UNSET
    track_clicks: Annotated[bool | UnsetType, Messages("'{field}' must be true or false")] = UNSET


NonEmpty = Annotated[Text, Meta(min_length=1)]


class Labels(Struct):
    message: str
    campaign: str | None
    tags: list[str]


class LabelsChange(Struct, kw_only=True):
    """The campaign and tags of a message (replacing those it had)."""

    campaign: Annotated[NonEmpty | None, Messages("'{field}' must be a non-empty string")] = None
    tags: Annotated[list[NonEmpty], Messages("'{field}' must be a list of non-empty strings")] = []


# -- webhooks -------------------------------------------------------------------------------

#: :func:`check_url` reads it; whether its host is an address webhooks may go to is the
#: endpoints' to say (a 422 naming ``url``).
Url = Annotated[
    str,
    Meta(
        description="absolute http or https URL",
        examples=["https://hooks.brand.com/tracking"],
        # Blanks around it are dropped; control characters are refused (RFC 3986 §2).
        extra_json_schema={
            "pattern": f"^[{SPACE}]*[Hh][Tt][Tt][Pp][Ss]?://[^\\x00-\\x1f\\x7f]*[{SPACE}]*$"
        },
    ),
]
EventTypes = Annotated[
    Annotated[list[Annotated[str, Meta(extra_json_schema={"enum": list(EVENT_TYPES)})]],
              Meta(min_length=1, description="default: every type")] | None,
    Messages("event_types must be a non-empty list of event types"),
    Check(check_types),
]  # fmt: skip


class WebhookCreate(Struct, kw_only=True):
    url: Annotated[Url, Messages("url is required", missing="url is required"), Check(check_url)]
    event_types: EventTypes = None


class WebhookChange(Struct, kw_only=True):
    url: Annotated[Url | None, Messages("url is required"), Check(check_url)] = None
    event_types: EventTypes = None
    active: Annotated[bool | None, Messages("active must be true or false")] = None


class DeliveryStatus(Struct):
    backlog: int
    delivered: int
    expired: int
    consecutive_failures: int
    next_attempt_ms: int | None
    last_success_ms: int | None
    last_error_ms: int | None
    last_error: str | None


class WebhookEndpoint(Struct, kw_only=True):
    id: int
    url: str
    event_types: list[EventType]
    active: bool
    created_at: int
    secret: Annotated[str, Meta(description="only in the answer to the creation")] | UnsetType = (
        UNSET
    )
    status: DeliveryStatus


class WebhookTest(Struct):
    """The answer to a test batch: whether the endpoint answered 2xx, and if not, why."""

    delivered: bool
    error: str | None


# -- erasure --------------------------------------------------------------------------------


class Erased(Struct):
    """What an erasure deleted: all zero when it is repeated (nothing of it is left)."""

    events: Annotated[Count, Meta(description="raw events of the recipient, every verdict")]
    unique_keys: Annotated[
        Count, Meta(description="unique open and click keys of the recipient (their counts stay)")
    ]
    webhook_deliveries: Annotated[
        Count, Meta(description="queued webhook deliveries of those events, dropped unsent")
    ]
