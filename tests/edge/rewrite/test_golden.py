"""Golden tests: realistic emails rewritten, compared byte for byte with reviewed files.

Each input in ``tests/edge/rewrite/golden/`` has ``<name>.expected.<ext>`` (the rewritten
email) and ``<name>.report.json`` (links and warnings). Tokens are deterministic for a fixed
secret, so the files are exact, and compared as bytes (``outlook-crlf.html`` keeps its CRLF
line ends and byte order mark; ``tests/edge/rewrite/golden/.gitattributes`` stops git from
converting them). After a deliberate change, regenerate them with
``UPDATE_GOLDEN=1 python -m pytest tests/edge/rewrite/test_golden.py``: that run writes the files
and fails, so it can never pass a comparison of files with themselves; review the diff and
run again without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edge.rewrite.rewriter import Rewriter, RewriteResult
from edge.serving.domains import TrackingHost
from edge.tokens.codec import TokenCodec
from edge.tokens.links import LinkBuilder

GOLDEN = Path(__file__).parent / "golden"
SECRET = "golden-secret"
ACCOUNT = 42
HOST = TrackingHost("click.brand.example", ACCOUNT, False, True, 7)

# input file -> options of the rewrite
CASES = {
    "newsletter.html": {"message": "autumn-2026"},
    "receipt.html": {"message": "order-10023", "initial_open": True, "honeypot": True},
    "fragment.html": {"message": "download-9", "recipient": "ada@example.com"},
    "plain.txt": {"message": "autumn-2026"},
    # BOM, CRLF, Outlook-only <body>/</body> in conditional comments, VML button, IDN host,
    # percent-encoded placeholders.
    "outlook-crlf.html": {"message": "spring-2027", "initial_open": True},
}


def rewriter() -> Rewriter:
    return Rewriter(LinkBuilder(TokenCodec([SECRET])), HOST, ACCOUNT)


def run(name: str) -> tuple[str, RewriteResult]:
    source = (GOLDEN / name).read_bytes().decode("utf-8")
    if name.endswith(".txt"):
        result = rewriter().rewrite(text=source, **CASES[name])
        return source, result
    return source, rewriter().rewrite(source, **CASES[name])


def output(name: str, result: RewriteResult) -> str:
    return result.text if name.endswith(".txt") else result.html  # type: ignore[return-value]


def expected_paths(name: str) -> tuple[Path, Path]:
    stem, ext = name.rsplit(".", 1)
    return GOLDEN / f"{stem}.expected.{ext}", GOLDEN / f"{stem}.report.json"


def report(result: RewriteResult) -> str:
    data = result.to_dict()
    return json.dumps({"links": data["links"], "warnings": data["warnings"]}, indent=1) + "\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_rewritten_email_matches_golden_file(name: str) -> None:
    _, result = run(name)
    email_path, report_path = expected_paths(name)
    email, data = output(name, result).encode("utf-8"), report(result).encode("utf-8")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        email_path.write_bytes(email)
        report_path.write_bytes(data)
        pytest.fail(f"{email_path.name} and {report_path.name} rewritten: review, rerun without")
    assert email == email_path.read_bytes()
    assert data == report_path.read_bytes()


def test_the_crlf_golden_email_still_has_its_crlf_line_ends_and_bom() -> None:
    source = (GOLDEN / "outlook-crlf.html").read_bytes()
    expected = (GOLDEN / "outlook-crlf.expected.html").read_bytes()
    for data in (source, expected):
        assert data.startswith(b"\xef\xbb\xbf<!DOCTYPE")
        assert data.count(b"\n") == data.count(b"\r\n") == 25


def test_the_outlook_golden_email_has_its_pixels_in_the_body_every_client_sees() -> None:
    source, result = run("outlook-crlf.html")
    offsets = {i.kind: i.offset for i in result.insertions}
    revealed_body = '<body style="margin:0;padding:0">'
    assert offsets == {
        "initial_open": source.index(revealed_body) + len(revealed_body),
        "open": source.index("<!--[if !mso]><!--></body>") + len("<!--[if !mso]><!-->"),
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_output_minus_wrapped_values_and_insertions_is_the_input(name: str) -> None:
    source, result = run(name)
    restored = output(name, result)
    for insertion in result.insertions:
        restored = restored.replace(insertion.markup, "", 1)
    pos = 0
    for link in result.links:
        if link.wrapped:
            at = restored.index(link.tracking_url, pos)  # type: ignore[arg-type]
            restored = restored[:at] + link.raw + restored[at + len(link.tracking_url) :]  # type: ignore[arg-type]
            pos = at + len(link.raw)
    assert restored == source


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_rewrite_is_idempotent(name: str) -> None:
    _, first = run(name)
    again = rewriter()
    if name.endswith(".txt"):
        assert again.rewrite(text=first.text, **CASES[name]).text == first.text
    else:
        assert again.rewrite(first.html, **CASES[name]).html == first.html
