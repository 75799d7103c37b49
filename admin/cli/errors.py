"""The command line's one error type, and the checks of arguments every command shares."""

from __future__ import annotations

import argparse

from edge.rewrite.rewriter import is_unicode_text


class CLIError(Exception):
    """A failure to report to the user as one line (``tracking-edge: error: ...``, exit 1)."""


def require_text(value: str | None, option: str) -> None:
    """Refuse an argument that is not text: undecodable bytes in argv arrive as lone
    surrogates, which cannot be stored, signed into a token or printed."""
    if value is not None and not is_unicode_text(value):
        raise CLIError(f"{option} is not valid UTF-8")


def port(value: str) -> int:
    """An ``argparse`` type: a TCP port."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"not a port from 1 to 65535: {value!r}")
    return number
