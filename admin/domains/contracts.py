"""Request and response models of both dialects (SparkPost and Mailerlogic).

The field types are the contract: msgspec reads bodies into them (strictly: ``"true"`` is not
a boolean) and the OpenAPI document is generated from them. The refusal texts are the seed's.
Names are checked beyond their type by :class:`~admin.domains.validation.DomainRules`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from admin.api.contracts import MAX_ID, RowId, Time, one_of
from admin.api.fields import NOT_BLANK, Messages

CnameStatus = Annotated[str, one_of("unverified", "pending", "invalid", "valid")]
ComplianceStatus = Annotated[str, one_of("pending", "valid", "blocked")]
SslStatus = Annotated[str, one_of("unavailable", "provisioning", "active", "failed")]

#: A domain name as typed: :class:`~admin.domains.validation.DomainRules` reads it (rules JSON
#: Schema cannot state: IDNA, a dot, names nobody may claim); blank is a missing field.
Name = Annotated[
    str,
    Messages("field '{field}' must be a string"),
    Meta(
        description="a host name (letters, digits, '-', at least one '.'; Unicode is IDNA-encoded)",
        extra_json_schema={"pattern": NOT_BLANK},
    ),
]
Flag = Annotated[bool | None, Messages("field '{field}' must be a boolean")]
TrackingDomainId = Annotated[
    RowId | None,
    Messages(
        "field '{field}' must be an integer or null",
        bounds=f"field '{{field}}' must be an id from 1 to {MAX_ID}",
    ),
    Meta(description="a tracking domain of the account; null: the account's default"),
]
Secure = Annotated[Flag, Meta(description="false: port 80; true: port 443")]

# -- SparkPost: /api/v1/tracking-domains ---------------------------------------------------


class SparkPostCreate(Struct, kw_only=True):
    secure: Secure = None
    default: Annotated[Flag, Meta(description="only a verified domain may be default")] = None
    domain: Annotated[Name, Meta(examples=["track.brand.com"])]


class SparkPostUpdate(Struct, kw_only=True):
    secure: Secure = None
    default: Flag = None


class SparkPostStatus(Struct):
    verified: bool
    cname_status: CnameStatus
    compliance_status: ComplianceStatus


class SparkPostTrackingDomain(Struct):
    port: Annotated[int, one_of(80, 443)]
    domain: str
    secure: bool
    default: bool
    status: SparkPostStatus


class SparkPostDomainName(Struct):
    domain: str


# -- Mailerlogic: /api/v1/customer/... ------------------------------------------------------


class CreateTrackingDomain(Struct, kw_only=True):
    secure: Secure = None
    domain: Annotated[Name, Meta(examples=["click.brand.com"])]


class RenameTrackingDomain(Struct):
    domain: Annotated[Name, Meta(examples=["links.brand.com"])]


class CreateSendingDomain(Struct, kw_only=True):
    tracking_domain_id: TrackingDomainId = None
    domain: Annotated[Name, Meta(examples=["brand.com"])]


class AssignTrackingDomain(Struct):
    tracking_domain_id: TrackingDomainId


class DnsRecord(Struct):
    """The one record the customer adds: ``name. CNAME target.``"""

    name: str
    type: Literal["CNAME"]
    target: Annotated[
        str,
        Meta(
            description="the account's own CNAME target, <label>.<EDGE_CNAME_TARGET>: a name "
            "verifies only for the account whose target it points to"
        ),
    ]


class TrackingDomain(Struct):
    id: int
    domain: Annotated[str, Meta(description="lower case, A-labels")]
    secure: bool
    default: bool
    verified: bool
    verification_status: CnameStatus
    verification_reason: Annotated[str | None, Meta(description="what the last check found")]
    last_checked_at: Time | None
    compliance_status: ComplianceStatus
    ssl_status: SslStatus
    dns_record: DnsRecord
    created_at: Time
    updated_at: Time


class Ssl(Struct):
    id: int
    domain: str
    status: SslStatus
    issuer: str | None
    not_before: Time | None
    not_after: Time | None
    renew_at: Time | None
    reason: str | None


class TrackingDomainDetail(TrackingDomain):
    """A tracking domain with its certificate and the steps to set it up."""

    ssl: Ssl
    dns_instructions: list[str]


class SendingDomain(Struct):
    id: int
    domain: str
    tracking_domain_id: int | None
    tracking_domain: str | None
    created_at: Time
    updated_at: Time
