"""Errors of the admin API: raised once by the domain service, rendered by each dialect.

::

    AdminError                  status  SparkPost code  Mailerlogic code
    ├── Unauthorized            401     (none)          unauthorized
    ├── Forbidden               403     (none)          forbidden
    ├── NotFound                404     1600            not_found
    ├── Conflict                409     1602            conflict
    │   └── DomainInUse         409     1602            domain_in_use
    ├── MalformedBody           400     1300            invalid_json
    ├── PayloadTooLarge         413     (none)          payload_too_large
    ├── Restricted              400     7000            restricted_domain
    ├── Unreachable             400     1404            unreachable
    ├── NotConfigured           503     (none)          not_configured
    ├── Unavailable             503     (none)          unavailable
    ├── MethodNotAllowed        405     (none)          method_not_allowed
    ├── HttpError               any     (none)          the status's phrase, snake_case
    ├── MissingField            422     1400            missing_field
    └── InvalidData             422     1300            invalid_data
        ├── InvalidDomain       422     1300            invalid_domain
        ├── Unverified          422     1300            domain_unverified
        └── Blocked             422     1300            domain_blocked

The SparkPost dialect renders ``{"errors": [{"code", "message", "description"}]}`` with the
seed's codes and texts (:class:`SparkPostErrors`); the Mailerlogic dialect renders
``{"error": {"status", "code", "message", "field"}}`` (:class:`CustomerError`). Which one a
request gets is decided by its path (:func:`render`), so routes added by other modules get the
right shape for free.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import ClassVar

import msgspec
from msgspec import UNSET, UnsetType
from starlette.responses import Response

#: Paths of the Mailerlogic (customer) dialect; every other admin path speaks SparkPost.
CUSTOMER_PREFIX = "/api/v1/customer/"


class SparkPostError(msgspec.Struct, kw_only=True):
    #: Absent on errors SparkPost gives no code (401, 405, 413...).
    code: str | UnsetType = UNSET
    message: str
    description: str


class SparkPostErrors(msgspec.Struct):
    """An error in the SparkPost dialect."""

    errors: list[SparkPostError]


class CustomerErrorDetail(msgspec.Struct, kw_only=True):
    status: int
    code: str
    message: str
    #: The request field at fault, when one is.
    field: str | UnsetType = UNSET
    #: Why the domain was unreachable (``unreachable`` only).
    reason: str | UnsetType = UNSET


class CustomerError(msgspec.Struct):
    """An error in the Mailerlogic dialect."""

    error: CustomerErrorDetail


class AdminError(Exception):
    """A refusal to report to the caller; ``description`` is the human-readable detail."""

    status: ClassVar[int] = 400
    #: SparkPost's numeric error code (a string, as SparkPost sends it) and message.
    code: ClassVar[str | None] = "1300"
    message: ClassVar[str] = "invalid data format/type"
    #: The Mailerlogic dialect's machine-readable code.
    slug: ClassVar[str] = "invalid_data"

    def __init__(self, description: str, *, field: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.field = field

    def sparkpost_body(self) -> SparkPostErrors:
        code = UNSET if self.code is None else self.code
        return SparkPostErrors(
            [SparkPostError(code=code, message=self.message, description=self.description)]
        )

    def customer_body(self) -> CustomerError:
        field = UNSET if self.field is None else self.field
        return CustomerError(
            CustomerErrorDetail(
                status=self.status, code=self.slug, message=self.description, field=field
            )
        )


class Unauthorized(AdminError):
    """No API key, or one that is unknown or revoked."""

    status = 401
    # SparkPost's own 401 body is ``{"errors": [{"message": "Unauthorized."}]}``: no code.
    code = None
    message = "Unauthorized."
    slug = "unauthorized"


class Forbidden(AdminError):
    """A valid key that may not do this: the operator's routes, to another account's key."""

    status = 403
    code = None
    message = "Forbidden."
    slug = "forbidden"


class NotFound(AdminError):
    """No such resource *in the caller's account*: another account's is not found either."""

    status = 404
    code = "1600"
    message = "resource not found"
    slug = "not_found"

    def __init__(self, ref: object) -> None:
        super().__init__(f"Resource not found: {ref}")
        self.ref = ref


class Conflict(AdminError):
    status = 409
    code = "1602"
    message = "resource conflict"
    slug = "conflict"


class DomainInUse(Conflict):
    """A tracking domain still assigned to sending domains cannot be deleted."""

    slug = "domain_in_use"

    def __init__(self, domain: str, sending: list[str]) -> None:
        super().__init__(
            f"Tracking domain '{domain}' is assigned to sending domains: {', '.join(sending)}. "
            "Remove it from all sending domains first."
        )
        self.sending = sending


class MalformedBody(AdminError):
    slug = "invalid_json"


class PayloadTooLarge(AdminError):
    """A request body over :data:`admin.api.bodies.MAX_BODY_BYTES`."""

    status = 413
    code = None
    message = "payload too large"
    slug = "payload_too_large"


class Restricted(AdminError):
    """The platform's own names, ``localhost`` and the operator's deny list (code 7000)."""

    code = "7000"
    message = "restricted domain"
    slug = "restricted_domain"
    #: The seed sends people to SparkPost's support address; a self-hosted edge has none.
    text = (
        "Please contact the operator of this service to get this domain authorized "
        "for your account."
    )

    def __init__(self, domain: str) -> None:
        super().__init__(self.text, field="domain")
        self.domain = domain


class Unreachable(AdminError):
    """The CNAME is right but the domain does not reach this edge over HTTP (code 1404)."""

    code = "1404"
    message = "request to remote endpoint failed"
    slug = "unreachable"

    def __init__(self, url: str, reason: str = "") -> None:
        super().__init__(f"Unable to reach {url}. Please verify that your redirect is functioning.")
        self.url = url
        self.reason = reason

    def customer_body(self) -> CustomerError:
        body = super().customer_body()
        body.error.reason = self.reason
        return body


class NotConfigured(AdminError):
    """A feature this server was started without (certificate provisioning)."""

    status = 503
    code = None
    message = "service unavailable"
    slug = "not_configured"


class Unavailable(AdminError):
    """The database could not be reached, or stayed busy longer than a request may wait
    (:class:`~edge.db.store.StoreUnavailable`): nothing was done, the request may be repeated."""

    status = 503
    code = None
    message = "service unavailable"
    slug = "unavailable"

    def __init__(self) -> None:
        super().__init__("The database is unavailable or busy; try again shortly.")


class MethodNotAllowed(AdminError):
    status = 405
    code = None
    message = "method not allowed"
    slug = "method_not_allowed"


class HttpError(AdminError):
    """Any other HTTP error raised below the routes (Starlette's ``HTTPException``), rendered
    with its own status rather than dressed up as another error."""

    code = None

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        phrase = _phrase(status)
        # Instance attributes over the class defaults: the status is only known here.
        self.status = status  # type: ignore[misc]
        self.message = phrase.lower()  # type: ignore[misc]
        self.slug = phrase.lower().replace(" ", "_").replace("-", "_")  # type: ignore[misc]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class MissingField(AdminError):
    status = 422
    code = "1400"
    message = "required field is missing"
    slug = "missing_field"

    def __init__(self, field: str) -> None:
        super().__init__(f"field '{field}' is required", field=field)


class InvalidData(AdminError):
    status = 422


class InvalidDomain(InvalidData):
    """A name that breaks the syntax rules; the description quotes the input as given."""

    slug = "invalid_domain"

    def __init__(self, description: str, domain: str) -> None:
        super().__init__(description, field="domain")
        self.domain = domain


class Unverified(InvalidData):
    """Only a verified domain may be the default (or get a certificate)."""

    slug = "domain_unverified"

    def __init__(self, domain: str) -> None:
        super().__init__(f"Tracking domain '{domain}' unverified.")
        self.domain = domain


class Blocked(InvalidData):
    slug = "domain_blocked"

    def __init__(self, domain: str) -> None:
        super().__init__(f"Tracking domain '{domain}' is blocked.")
        self.domain = domain


def render(path: str, error: AdminError) -> Response:
    """The error in the dialect of ``path``."""
    customer = path.startswith(CUSTOMER_PREFIX)
    body = error.customer_body() if customer else error.sparkpost_body()
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    content = msgspec.json.encode(body)
    return Response(content, error.status, headers, media_type="application/json")
