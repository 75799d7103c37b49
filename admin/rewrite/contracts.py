"""Request and response models of ``POST /api/v1/rewrite``.

The link and warning reports are the rewriter's own dataclasses (msgspec encodes them and
writes their schema), so the answer's shape is declared where it is made.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar

from msgspec import Meta, Struct

from admin.api import contracts
from admin.api.errors import MissingField
from admin.api.fields import Check, Messages
from edge.rewrite.rewriter import LinkReport, RewriteWarning

#: Longest ``message`` or ``recipient`` reference, in characters: both go into every token.
MAX_REFERENCE_LENGTH = 256

Text = Annotated[str | None, Messages("field '{field}' must be a string")]
#: Stored with every event of the message (so no NUL: see ``admin.api.contracts.Text``).
Reference = Annotated[
    Annotated[contracts.Text, Meta(max_length=MAX_REFERENCE_LENGTH)] | None,
    Messages(
        "field '{field}' must be a string",
        bounds=f"field '{{field}}' is longer than {MAX_REFERENCE_LENGTH} characters",
    ),
]
Flag = Annotated[bool | None, Messages("field '{field}' must be a boolean")]


def _echoable(metadata: dict[str, Any]) -> None:
    """Refuse metadata that cannot be echoed back as strict JSON."""
    try:
        # NaN, Infinity and 1e400 (a float overflowing to inf) are not JSON (RFC 8259 §6)
        # and a lone surrogate is not UTF-8: either would fail when the answer is encoded.
        json.dumps(metadata, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        raise ValueError(
            "field 'metadata' holds a non-finite number or text that is not valid Unicode"
        ) from None


class RewriteRequest(Struct, kw_only=True):
    """An email to rewrite: ``html`` or ``text`` (or both) and the options."""

    html: Annotated[Text, Meta(description="the HTML part")] = None
    text: Annotated[Text, Meta(description="the plain-text part")] = None
    message: Annotated[Reference, Meta(description="message reference put into tokens")] = None
    recipient: Annotated[Reference, Meta(description="recipient reference (addresses hashed)")] = (
        None
    )
    metadata: Annotated[
        dict[str, Any] | None,
        Messages("field '{field}' must be an object"),
        Check(_echoable),
        Meta(description="echoed back, not put into tokens"),
    ] = None
    track_clicks: Annotated[Flag, Meta(description="default true")] = None
    track_opens: Annotated[Flag, Meta(description="default true")] = None
    initial_open: Annotated[Flag, Meta(description="default false")] = None
    honeypot: Annotated[Flag, Meta(description="default false")] = None
    tracking_domain: Annotated[
        Text,
        Meta(description="a verified tracking domain of the account (or the edge's default)"),
    ] = None
    sender: Annotated[
        Text, Meta(description="sending domain or From address: its assigned tracking domain")
    ] = None

    #: ``__post_init__``'s rule, for the document.
    schema_extra: ClassVar[dict[str, Any]] = {
        "anyOf": [
            {"required": [part], "properties": {part: {"type": "string"}}}
            for part in ("html", "text")
        ]
    }

    def __post_init__(self) -> None:
        if self.html is None and self.text is None:
            raise MissingField("html")

    def options(self) -> dict[str, bool]:
        """The tracking options the request sets (the rewriter's defaults for the others)."""
        names = ("track_clicks", "track_opens", "initial_open", "honeypot")
        return {n: v for n in names if (v := getattr(self, n)) is not None}


class Rewritten(Struct):
    """The rewritten email, its link report, and what the request asked to be echoed."""

    html: str | None
    text: str | None
    links: list[LinkReport]
    warnings: list[RewriteWarning]
    tracking_domain: str
    message: str | None
    metadata: dict[str, Any] | None
