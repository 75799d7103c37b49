"""``tracking-edge``: the command line.

Every subcommand is a ``register(subparsers)`` function in a module listed in
:data:`COMMAND_MODULES`; it sets ``func`` (returning an exit code) on its parser. Failures
raise :class:`CLIError` (or a known error type) and are printed as one line, exit status 1,
never a traceback; so are arguments argparse refuses (exit status 2, as argparse's own).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from admin.cli.errors import CLIError

#: Modules that contribute subcommands.
COMMAND_MODULES = (
    "admin.cli.edge",
    "admin.cli.accounts",
    "admin.cli.rewrite",
    "admin.cli.db",
)


class Parser(argparse.ArgumentParser):
    """argparse, saying what it refuses in the commands' one line rather than after a usage
    message (subcommands' parsers are of the same class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"tracking-edge: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="tracking-edge",
        description="Self-hostable tracking edge for email: click redirects, open pixels, "
        "tracking-domain management.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from edge.config import ConfigError
    from edge.db.store import StoreUnavailable
    from edge.tokens.codec import TokenError

    try:
        return int(args.func(args) or 0)
    except (CLIError, ConfigError, StoreUnavailable, TokenError, OSError) as exc:
        print(f"tracking-edge: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, naming what broke
        print(f"tracking-edge: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
