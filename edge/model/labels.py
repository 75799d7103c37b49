"""Campaign and tags of a message, set by the sender, for the stats filters."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class LabelKind(StrEnum):
    CAMPAIGN = "campaign"
    TAG = "tag"


@dataclass(frozen=True, slots=True)
class MessageLabels:
    message: str
    campaign: str | None = None
    tags: tuple[str, ...] = field(default=())
