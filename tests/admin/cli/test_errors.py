"""Every error of every subcommand is one line on stderr (``tracking-edge: error: ...``) and a
non-zero status: malformed URLs, text that is not UTF-8, ids and ports out of range, arguments
argparse refuses, a database that cannot be reached. Never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from admin.cli.main import main
from tests.conftest import cli_command

#: Undecodable bytes in argv, as Python hands them over (lone surrogates).
NOT_UTF8 = b"caf\xe9".decode("utf-8", "surrogateescape")


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EDGE_SECRET_KEYS", "cli-key")
    monkeypatch.setenv("EDGE_DEFAULT_DOMAIN", "track.test")
    monkeypatch.setenv("EDGE_ADMIN_HOST", "admin.test")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit:  # argparse
        code = int(exit.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        # An unclosed IPv6 bracket: urlsplit's ValueError was a traceback.
        (("wrap", "http://[::1/"), "Invalid IPv6 URL"),
        (("wrap", "http://[::1/", "--link", "buy"), "Invalid IPv6 URL"),
        (("wrap", f"https://e.com/{NOT_UTF8}"), "the URL is not valid UTF-8"),
        (("wrap", "https://e.com/", "--message", NOT_UTF8), "--message is not valid UTF-8"),
        (("wrap", "https://e.com/", "--recipient", NOT_UTF8), "--recipient is not valid UTF-8"),
        (("wrap", "https://e.com/", "--link", NOT_UTF8), "--link is not valid UTF-8"),
        (("wrap", "--open", "--domain", NOT_UTF8), "--domain is not valid UTF-8"),
        (("keys", "create", "--account", NOT_UTF8), "--account is not valid UTF-8"),
        (("keys", "create", "--account", "acme", "--label", NOT_UTF8),
         "--label is not valid UTF-8"),
        (("keys", "list", "--account", NOT_UTF8), "--account is not valid UTF-8"),
        # Past the 64-bit id column: OverflowError was a traceback.
        (("keys", "revoke", "99999999999999999999"), "no key with id 99999999999999999999"),
        (("keys", "revoke", "0"), "no key with id 0"),
        (("domains", "list", "--account", NOT_UTF8), "--account is not valid UTF-8"),
        (("domains", "block", f"{NOT_UTF8}.example"), "the domain is not valid UTF-8"),
        (("rewrite", "-", "--domain", NOT_UTF8), "--domain is not valid UTF-8"),
        (("events", "--since", NOT_UTF8), "--since: not an ISO 8601 time: 'caf\\udce9'"),
    ],
)  # fmt: skip
def test_malformed_input_is_one_line_and_exit_status_1(capsys, argv, error):
    code, out, err = run(capsys, *argv)
    assert (code, out, err) == (1, "", f"tracking-edge: error: {error}\n")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (("serve", "--port", "99999"),
         "argument --port: not a port from 1 to 65535: '99999' (see tracking-edge serve --help)"),
        (("serve", "--https-port", "0"),
         "argument --https-port: not a port from 1 to 65535: '0' "
         "(see tracking-edge serve --help)"),
        (("keys", "revoke", "abc"),
         "argument id: invalid int value: 'abc' (see tracking-edge keys revoke --help)"),
        (("wrap", "--bogus"), "unrecognized arguments: --bogus (see tracking-edge --help)"),
        (("keys",), "the following arguments are required: ACTION (see tracking-edge keys --help)"),
        ((), "the following arguments are required: COMMAND (see tracking-edge --help)"),
    ],
)  # fmt: skip
def test_arguments_argparse_refuses_are_one_line_and_exit_status_2(capsys, argv, error):
    code, out, err = run(capsys, *argv)
    assert (code, out, err) == (2, "", f"tracking-edge: error: {error}\n")


def test_serve_on_a_port_in_use_is_one_line(capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, out, err = run(capsys, "serve", "--port", str(port))
    assert (code, out) == (1, "")
    in_use = f"cannot listen on 127.0.0.1:{port}: Address already in use"
    assert err == f"tracking-edge: error: {in_use}\n"


def test_a_port_setting_out_of_range_is_one_line(capsys, monkeypatch):
    monkeypatch.setenv("PORT", "99999")
    code, out, err = run(capsys, "serve")
    assert (code, out, err) == (
        1,
        "",
        "tracking-edge: error: PORT must be a port from 1 to 65535, got 99999\n",
    )


def test_a_database_that_cannot_be_reached_is_one_line(capsys, monkeypatch):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    monkeypatch.setenv("EDGE_DATABASE_URL", f"postgresql://edge@127.0.0.1:{port}/edge")
    code, out, err = run(capsys, "events")
    assert (code, out) == (1, "")
    assert err.startswith("tracking-edge: error: ") and err.count("\n") == 1


def test_an_unexpected_failure_is_still_one_line(capsys, monkeypatch):
    import admin.cli.accounts

    def broken(args):
        raise LookupError("something the command did not expect")

    monkeypatch.setattr(admin.cli.accounts, "cmd_keys_list", broken)
    code, out, err = run(capsys, "keys", "list")
    assert (code, out, err) == (
        1,
        "",
        "tracking-edge: error: LookupError: something the command did not expect\n",
    )


def test_wrap_of_an_unclosed_ipv6_url_prints_no_traceback(tmp_path):
    # The command, as a user runs it.
    env = {**os.environ, "EDGE_DATA_DIR": str(tmp_path / "data"), "EDGE_SECRET_KEYS": "k"}
    done = subprocess.run(
        [*cli_command(), "wrap", "http://[::1/"], env=env, capture_output=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (1, b"")
    assert done.stderr == b"tracking-edge: error: Invalid IPv6 URL\n"
