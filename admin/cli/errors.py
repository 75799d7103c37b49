"""The command line's one error type."""

from __future__ import annotations


class CLIError(Exception):
    """A failure to report to the user as one line (``tracking-edge: error: ...``, exit 1)."""
