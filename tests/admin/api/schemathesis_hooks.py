"""Schemathesis hooks for ``test_schemathesis.py`` (loaded by ``st run`` in its own process).

Schemathesis's ``positive_data_acceptance`` takes any 400 or 422 for a schema-valid request
as a failure. A few of the admin API's rules cannot be said in JSON Schema, so the document
says them in words: a domain name's syntax (IDNA, a dot) and the names nobody may claim, a
webhook URL's host, a cursor being one the API returned, a time range's order, and what the
account holds (a verified tracking domain, a tracking domain id). The test lets that check
accept 400 and 422, and :func:`refused_only_by_rules_in_words` takes over for them: a
schema-valid request may be refused by one of these rules, each named by its exact text, and
by nothing else (never by a type, a bound or a required field the schema states).
"""

from __future__ import annotations

import json
import re

import schemathesis

_RULES_IN_WORDS = (
    # Domain names (admin/domains/validation.py), both dialects.
    r"Error validating domain name syntax for domain: '.*'",
    r"Error domain name length too short for domain: '.*'",
    r"Error domain name contains no '\.'\(s\) for domain: '.*'",
    r"Error domain name contains invalid characters or spaces for domain: '.*'",
    r"Please contact the operator of this service to get this domain authorized for your account\.",
    # What the account holds.
    r"Tracking domain '.*' unverified\.",
    r"Tracking domain [0-9]+ not found\.",
    r"field 'tracking_domain' is not a domain name: .*",
    # Verification reaches out over DNS, which answers nothing here.
    r"Unable to reach http://.*\. Please verify that your redirect is functioning\.",
    # Webhook URLs (admin/engagement/webhooks/endpoints.py, admin/outbound).
    r"url must be an absolute http or https URL",
    r"not a valid URL: .*",
    r"not a valid host name: .*",
    r"refusing to connect to .*: not a public address \(EDGE_WEBHOOK_ALLOW_NETWORKS can allow .*\)",
    # Opaque cursors and time ranges (admin/engagement).
    r"'cursor' is not a cursor this API returned",
    r"'to' must be after 'from'",
    r"'(from|to)' must be from 0001-01-01 to 9999-12-31 \(UTC\)",
    r"the range must be aligned to the grouping",
    r"a series has at most [0-9]+ points",
)
RULES_IN_WORDS = tuple(re.compile(rule, re.DOTALL) for rule in _RULES_IN_WORDS)


def refusal_text(body: bytes) -> str:
    """What an error answer says, in either dialect."""
    try:
        data = json.loads(body)
        if "error" in data:
            return data["error"]["message"]
        return data["errors"][0]["description"]
    except (ValueError, TypeError, LookupError):
        return body.decode("utf-8", "replace")


@schemathesis.check
def refused_only_by_rules_in_words(ctx, response, case):
    """A schema-valid request refused with 400 or 422 names one of :data:`RULES_IN_WORDS`."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if response.status_code not in (400, 422):
        return None
    text = refusal_text(response.content)
    if any(rule.fullmatch(text) for rule in RULES_IN_WORDS):
        return None
    raise AssertionError(
        f"A schema-valid request was refused ({response.status_code}) by a rule the document "
        f"does not state: {text}"
    )
