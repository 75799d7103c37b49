"""Finding the URLs in the plain-text part of an email.

A plain-text URL has no markup around it, so where it ends is a guess; the guess here is the
one mail clients make when they linkify (and the one users expect):

- only ``http://`` and ``https://`` URLs, any case;
- a URL ends at white space, ``<``, ``>`` or ``"``;
- trailing sentence punctuation (``.,;:!?'*``) is not part of it: "see https://x.com/a."
  ends at ``a``;
- a trailing closing bracket is part of it only when the URL opened one, so
  ``(https://x.com/a)`` ends at ``a`` while ``https://en.wikipedia.org/wiki/Mercury_(planet)``
  keeps its ``)``;
- a URL delimited as ``<https://…>`` or ``<URL:https://…>`` (RFC 3986 Appendix C) is taken
  whole up to the ``>``: the delimiters say where it ends, so nothing is trimmed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Control characters end a URL too (no URL holds one): taken in, they were lost when the URL
# was replaced by its tracked form.
_URL = re.compile(r"""https?://[^\s<>"\x00-\x1f\x7f]+""", re.IGNORECASE)
_TRAILING = ".,;:!?'*"
_CLOSERS = {")": "(", "]": "[", "}": "{"}


def find_urls(text: str) -> Iterator[tuple[int, int]]:
    """Yield ``(start, end)`` of every http(s) URL in ``text``, in order."""
    for m in _URL.finditer(text):
        start, end = m.span()
        if _delimited(text, start, end):
            yield start, end
            continue
        end = _trim(text, start, end)
        if end > start and text.find("://", start, end) + 3 < end:
            yield start, end


def _delimited(text: str, start: int, end: int) -> bool:
    if end >= len(text) or text[end] != ">":
        return False
    if start >= 1 and text[start - 1] == "<":
        return True
    return start >= 5 and text[start - 5 : start].upper() == "<URL:"


def _trim(text: str, start: int, end: int) -> int:
    # Bracket counts are taken once per kind and kept up to date as closers are trimmed:
    # counting again on each step would make a URL ending in many ")" quadratic.
    balance: dict[str, int] = {}
    while end > start:
        last = text[end - 1]
        if last in _TRAILING:
            end -= 1
        elif last in _CLOSERS:
            if last not in balance:
                balance[last] = text.count(_CLOSERS[last], start, end) - text.count(
                    last, start, end
                )
            if balance[last] >= 0:  # every closer has its opener: part of the URL
                break
            balance[last] += 1
            end -= 1
        else:
            break
    return end
