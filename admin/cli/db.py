"""``db migrate-to``: carry one machine's SQLite installation into a cluster's PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import sys

from admin.cli.errors import CLIError
from edge.config import ConfigError, Settings, setting_value
from edge.db.factory import node_id_for
from edge.db.transfer import TransferError, transfer


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="the database")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    move = db_sub.add_parser(
        "migrate-to",
        help="copy this data directory's SQLite database into PostgreSQL (stop serve first)",
    )
    move.add_argument("url", help="postgresql://user:password@host:port/database")
    move.set_defaults(func=cmd_migrate_to)


def cmd_migrate_to(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        url = setting_value("database_url", args.url)
    except ConfigError:
        raise CLIError("the URL must be a postgresql:// URL") from None
    path = settings.database_path
    if not path.exists():
        raise CLIError(f"no SQLite database at {path}")
    keys_file = settings.data_dir / "secret_keys"
    keys = keys_file.read_text().split() if keys_file.exists() and not settings.secret_keys else []

    def say(line: str) -> None:
        print(f"  {line}", file=sys.stderr)

    try:
        counts = asyncio.run(
            transfer(path, url, node_id_for(settings), secret_keys=keys, progress=say)
        )
    except TransferError as exc:
        raise CLIError(str(exc)) from None
    except (OSError, Exception) as exc:
        raise CLIError(f"PostgreSQL refused the copy: {type(exc).__name__}: {exc}") from None
    print("table\tsqlite\tpostgresql")
    for count in counts:
        print(f"{count.table}\t{count.source}\t{count.target}")
    return 0
