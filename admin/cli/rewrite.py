"""``rewrite``: an email's HTML or text part in, the same with tracked links and pixels out.

    tracking-edge rewrite FILE [--domain D] [--message M] [--recipient R] [--text]
                               [--initial-open] [--honeypot] [--no-clicks] [--no-opens]
                               [--json] [-o OUT]

``FILE`` is ``-`` for standard input. It is the text part when its name ends in ``.txt`` or
``--text`` is given, else HTML. The rewritten email goes to standard output (or ``-o``),
one line per warning to standard error; ``--json`` prints the whole result instead (the
HTTP API's response shape). The bytes are kept as they are: a file that is not UTF-8 comes
out unchanged outside the rewritten values, whatever its charset.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from admin.cli.edge import host_for
from admin.cli.errors import CLIError, require_text
from edge.config import Settings
from edge.db.factory import store_for
from edge.model.domains import TrackingHost
from edge.rewrite.rewriter import Rewriter, TooManyLinks, served_hosts
from edge.serving.keys import signing_keys
from edge.tokens.codec import TokenCodec
from edge.tokens.links import LinkBuilder

# Undecodable bytes travel through as lone surrogates and are written back as the same bytes.
_ENCODING = ("utf-8", "surrogateescape")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "rewrite",
        help="wrap the links of an email (HTML or text) and add the open pixel",
        description="Rewrite an email's HTML or text part: links wrapped in click-tracking "
        "URLs on the tracking domain, an open pixel before </body>. Prints the result.",
    )
    cmd.add_argument("file", metavar="FILE", help="the HTML or text part; - for standard input")
    cmd.add_argument("--domain", help="tracking domain (default: EDGE_DEFAULT_DOMAIN)")
    cmd.add_argument("--message", help="message reference recorded with each event")
    cmd.add_argument("--recipient", help="recipient reference (an address is hashed)")
    cmd.add_argument("--text", action="store_true", help="FILE is a text part (default: by .txt)")
    cmd.add_argument(
        "--initial-open", action="store_true", help="also add a pixel right after <body>"
    )
    cmd.add_argument(
        "--honeypot", action="store_true", help="add a hidden link that only scanners follow"
    )
    cmd.add_argument("--no-clicks", action="store_true", help="leave every link as it is")
    cmd.add_argument("--no-opens", action="store_true", help="add no open pixel")
    cmd.add_argument("--json", action="store_true", help="print the result as JSON")
    cmd.add_argument("-o", "--output", metavar="OUT", help="write the email here, not stdout")
    cmd.set_defaults(func=cmd_rewrite)


def cmd_rewrite(args: argparse.Namespace) -> int:
    for option in ("domain", "message", "recipient"):
        require_text(getattr(args, option), f"--{option}")
    settings = Settings.from_env()
    if args.file == "-":
        source = sys.stdin.buffer.read().decode(*_ENCODING)
    else:
        source = Path(args.file).read_bytes().decode(*_ENCODING)
    is_text = args.text or args.file.lower().endswith(".txt")

    host, account, known, keys = asyncio.run(_hosts(settings, args.domain))
    links = LinkBuilder(
        TokenCodec(keys),
        settings.public_http_port,
        settings.public_https_port,
    )
    rewriter = Rewriter(links, host, account, tracking_hosts=known)
    try:
        result = rewriter.rewrite(
            None if is_text else source,
            source if is_text else None,
            message=args.message,
            recipient=args.recipient,
            track_clicks=not args.no_clicks,
            track_opens=not args.no_opens,
            initial_open=args.initial_open,
            honeypot=args.honeypot,
        )
    except TooManyLinks as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        out = json.dumps(result.to_dict(), ensure_ascii=False, indent=1) + "\n"
    else:
        rewritten = result.text if is_text else result.html
        assert rewritten is not None  # the part given is the part rewritten
        out = rewritten
        for warning in result.warnings:
            print(f"tracking-edge: warning: {warning.message}", file=sys.stderr)
    data = out.encode(*_ENCODING)
    if args.output:
        Path(args.output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


async def _hosts(
    settings: Settings, domain: str | None
) -> tuple[TrackingHost, int, frozenset[str], list[str]]:
    """The tracking host and account to sign for, the hosts whose links are already wrapped
    (the default and every served domain), and the keys to sign with: one store session."""
    async with store_for(settings) as store:
        keys = await signing_keys(settings, store)
        async with store.reading() as db:
            host, account = await host_for(settings, domain, db)
            known = served_hosts(await db.domains.all())
    return host, account, known | {settings.default_domain}, keys
