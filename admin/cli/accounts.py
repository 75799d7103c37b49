"""``keys`` and ``domains``: API keys for accounts, and the operator's compliance switch."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from admin.accounts.service import Accounts, NewKey, UnknownKey
from admin.api.contracts import MAX_ID
from admin.api.timestamps import iso_utc
from admin.cli.errors import CLIError, require_text
from edge.config import Settings
from edge.db.factory import store_for
from edge.db.store import Store
from edge.model.accounts import ApiKey
from edge.model.domains import TrackingDomain

T = TypeVar("T")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="create a key (and the account if needed)")
    create.add_argument("--account", required=True, help="account name")
    create.add_argument("--label", help="a note to tell the key apart in lists")
    create.add_argument(
        "--operator",
        action="store_true",
        help="an operator's key: in the console it sees every account, creates accounts and "
        "keys, and blocks or unblocks tracking domains",
    )
    create.set_defaults(func=cmd_keys_create)
    listing = keys_sub.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--account", help="only this account's keys")
    listing.set_defaults(func=cmd_keys_list)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=cmd_keys_revoke)

    domains = sub.add_parser("domains", help="operator actions on tracking domains")
    domains_sub = domains.add_subparsers(dest="domains_command", required=True, metavar="ACTION")
    listing = domains_sub.add_parser("list", help="list tracking domains of every account")
    listing.add_argument("--account", help="only this account's domains")
    listing.set_defaults(func=cmd_domains_list)
    for name, blocked in (("block", True), ("unblock", False)):
        action = domains_sub.add_parser(
            name, help=f"set compliance_status {'blocked' if blocked else 'back'}"
        )
        action.add_argument("domain")
        action.set_defaults(func=cmd_domains_compliance, blocked=blocked)


def _run(work: Callable[[Store], Awaitable[T]]) -> T:
    settings = Settings.from_env()

    async def go() -> T:
        async with store_for(settings) as store:
            return await work(store)

    return asyncio.run(go())


def _when(ts: int | None) -> str:
    return iso_utc(ts) or "-"


def cmd_keys_create(args: argparse.Namespace) -> int:
    from admin.domains.service import account_target

    require_text(args.account, "--account")
    require_text(args.label, "--label")
    if not args.account.strip():
        raise CLIError("--account needs a name")

    async def work(store: Store) -> NewKey:
        accounts = Accounts(store)
        account = await accounts.ensure(args.account)
        return await accounts.create_key(account, args.label, operator=args.operator)

    new = _run(work)
    account = new.key.account
    # The key goes to stdout alone (scripts capture it); the rest is a note on stderr. The
    # CNAME target is there for customers of the SparkPost dialect, whose answers carry none.
    print(new.secret)
    print(
        f"{'operator ' if new.key.operator else ''}key {new.key.id} for account "
        f"{account.name!r} (id {account.id}); it is shown only "
        f"this once; the account's tracking domains point their CNAME at "
        f"{account_target(account, Settings.from_env().cname_target)}",
        file=sys.stderr,
    )
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    require_text(args.account, "--account")

    async def work(store: Store) -> list[ApiKey]:
        accounts = Accounts(store)
        account = None
        if args.account:
            account = await accounts.by_name(args.account)
            if account is None:
                raise CLIError(f"no account named {args.account!r}")
        return await accounts.list_keys(account)

    print("id\taccount\tprefix\tcreated\trevoked\tlabel")
    for key in _run(work):
        print(
            f"{key.id}\t{key.account.name}\t{key.prefix}…\t{_when(key.created_at)}\t"
            f"{_when(key.revoked_at)}\t{key.label or ''}"
        )
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    if not 1 <= args.id <= MAX_ID:  # names no key (and would not fit the id column)
        raise CLIError(f"no key with id {args.id}")

    async def work(store: Store) -> ApiKey:
        try:
            return await Accounts(store).revoke(args.id)
        except UnknownKey:
            raise CLIError(f"no key with id {args.id}") from None

    key = _run(work)
    print(f"key {key.id} of account {key.account.name!r} revoked at {_when(key.revoked_at)}")
    return 0


def cmd_domains_compliance(args: argparse.Namespace) -> int:
    from admin.domains.service import DomainNotFound, set_compliance
    from edge.hosts import normalise_host

    require_text(args.domain, "the domain")
    name = normalise_host(args.domain)
    if not name:
        raise CLIError(f"invalid domain: {args.domain!r}")

    async def work(store: Store) -> str:
        try:
            return await set_compliance(store, name, blocked=args.blocked)
        except DomainNotFound:
            raise CLIError(f"no tracking domain {name}") from None

    status = _run(work)
    print(f"{name}: compliance_status {status}")
    return 0


def cmd_domains_list(args: argparse.Namespace) -> int:
    require_text(args.account, "--account")

    async def work(store: Store) -> list[tuple[str, TrackingDomain]]:
        if args.account and await Accounts(store).by_name(args.account) is None:
            raise CLIError(f"no account named {args.account!r}")
        async with store.reading() as db:
            return await db.domains.with_account_names(args.account or None)

    print("id\taccount\tdomain\tsecure\tdefault\tcname\tcompliance\tssl\treason")
    for account, d in _run(work):
        flags = ["yes" if d.secure else "no", "yes" if d.is_default else "no"]
        states = [d.cname_status, d.compliance_status, d.ssl_status]
        print("\t".join([str(d.id), account, d.domain, *flags, *states, d.cname_reason or ""]))
    return 0
