"""Contracts on the request path: reading typical requests into their models (msgspec) against
the hand-written reading they replaced (``json.loads`` and ``isinstance`` checks).

    python bench/contracts.py [--runs 7] [--number 10000]

Times, per request, only the reading: the body bytes (or the parsed query string) in, the
values a handler uses out, with every check that refuses bad input. The "before" column is the
code this replaced (``admin/payloads.py``, ``admin/query_params.py`` and the handlers' own
checks), kept here as it was. Best of ``--runs`` rounds of ``--number`` calls each.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Keep bench/ off the import path (bench/edge.py is named like the package).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import json  # noqa: E402
import timeit  # noqa: E402
from collections.abc import Callable  # noqa: E402

from starlette.datastructures import QueryParams  # noqa: E402

from admin.api.bodies import decode_body  # noqa: E402
from admin.api.errors import InvalidData, MalformedBody, MissingField  # noqa: E402
from admin.api.queries import parse_query  # noqa: E402
from admin.api.timestamps import parse_iso_ms  # noqa: E402
from admin.domains.contracts import SparkPostCreate  # noqa: E402
from admin.engagement.contracts import StatsParams, WebhookCreate  # noqa: E402
from admin.engagement.webhooks import check_types, check_url  # noqa: E402
from admin.rewrite.contracts import RewriteRequest  # noqa: E402

SPARKPOST = b'{"domain": "click.brand.example", "secure": true, "default": false}'
WEBHOOK = b'{"url": "https://hooks.brand.example/edge", "event_types": ["click", "open"]}'
STATS = QueryParams(
    "from=2026-11-01T00:00:00Z&to=2026-11-08T00:00:00Z&group_by=day"
    "&domain=click.brand.example&include_machine=false&top_links=20"
)
HTML = "<p>Hello</p>" + '<a href="https://shop.example/item?id=1">item</a> text ' * 400
REWRITE = json.dumps({"html": HTML, "message": "m-1", "recipient": "r-1"}).encode()
REFUSED = b'{"domain": "click.brand.example", "secure": "yes"}'

# -- before: the hand-written reading, as it was ----------------------------------------------


def _object(raw: bytes) -> dict:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise MalformedBody("The request body must be a JSON object.")
    return body


def _bool(body: dict, field: str) -> bool | None:
    value = body.get(field)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidData(f"field '{field}' must be a boolean", field=field)


def _text(body: dict, field: str, max_length: int | None = None) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidData(f"field '{field}' must be a string", field=field)
    value.encode("utf-8")
    if max_length is not None and len(value) > max_length:
        raise InvalidData(f"field '{field}' is longer than {max_length}", field=field)
    return value


def before_sparkpost(raw: bytes) -> tuple:
    body = _object(raw)
    secure, default = _bool(body, "secure"), _bool(body, "default")
    domain = body.get("domain")  # the service's DomainRules: present, a string
    if domain is None:
        raise MissingField("domain")
    if not isinstance(domain, str):
        raise InvalidData("field 'domain' must be a string", field="domain")
    return domain, secure, default


def before_webhook(raw: bytes) -> tuple:
    body = _object(raw)
    return check_url(body.get("url")), check_types(body.get("event_types"))


def before_rewrite(raw: bytes) -> tuple:
    body = _object(raw)
    html, text = _text(body, "html"), _text(body, "text")
    if html is None and text is None:
        raise MissingField("html")
    return html, text, _text(body, "message", 256), _text(body, "recipient", 256)


def _time(params: QueryParams, name: str, required: bool = False) -> int | None:
    raw = params.get(name)
    if raw is None or not raw.strip():
        if required:
            raise MissingField(name)
        return None
    try:
        return parse_iso_ms(raw)
    except ValueError:
        raise InvalidData(f"'{name}' must be an ISO 8601 time", field=name) from None


def before_stats(params: QueryParams) -> tuple:
    boolean = params.get("include_machine", "").strip().lower()
    if boolean not in ("", "true", "1", "yes", "false", "0", "no"):
        raise InvalidData("'include_machine' must be true or false", field="include_machine")
    raw = params.get("top_links") or "10"
    try:
        top = int(raw)
    except ValueError:
        raise InvalidData("'top_links' must be an integer", field="top_links") from None
    if not 0 <= top <= 100:
        raise InvalidData("'top_links' must be between 0 and 100", field="top_links")
    texts = [params.get(n) or None for n in ("group_by", "domain", "message", "campaign")]
    return (
        _time(params, "from", True),
        _time(params, "to"),
        boolean in ("true", "1", "yes"),
        top,
        *texts,
    )


# -- after: the contracts -------------------------------------------------------------------


def refused(read: Callable[[], object]) -> Callable[[], object]:
    def call() -> object:
        try:
            return read()
        except InvalidData as exc:
            return exc

    return call


CASES: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
    ("SparkPost create body", lambda: before_sparkpost(SPARKPOST),
     lambda: decode_body(SPARKPOST, SparkPostCreate)),
    ("webhook create body", lambda: before_webhook(WEBHOOK),
     lambda: decode_body(WEBHOOK, WebhookCreate)),
    ("stats query string", lambda: before_stats(STATS), lambda: parse_query(STATS, StatsParams)),
    (f"rewrite body ({len(REWRITE) // 1024} KiB)", lambda: before_rewrite(REWRITE),
     lambda: decode_body(REWRITE, RewriteRequest)),
    ("refused body (wrong type)", refused(lambda: before_sparkpost(REFUSED)),
     refused(lambda: decode_body(REFUSED, SparkPostCreate))),
]  # fmt: skip


def best_us(call: Callable[[], object], runs: int, number: int) -> float:
    return min(timeit.repeat(call, repeat=runs, number=number)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--number", type=int, default=10_000)
    args = parser.parse_args()
    print(f"{'request':<28}{'before µs':>11}{'contract µs':>13}{'ratio':>8}")
    for name, before, after in CASES:
        number = max(args.number // 20, 100) if "KiB" in name else args.number
        old, new = best_us(before, args.runs, number), best_us(after, args.runs, number)
        print(f"{name:<28}{old:>11.2f}{new:>13.2f}{new / old:>8.2f}")


if __name__ == "__main__":
    main()
