"""Signed tracking tokens: the only thing the edge trusts when it redirects.

A token is compact JSON, signed and base64url-encoded (the two formats are described in
:mod:`edge.signing`). The payload is a JSON list so that field names cost no bytes; its first
element is the format version, so the format can change without breaking links already sent
(people click year-old emails, so tokens never expire by default). New tokens are format 2;
format 1 tokens (itsdangerous, before format 2 existed) are verified as before, forever.

Click and open tokens are signed with different salts: an open token can never be replayed
as a redirect, nor a click token as an open.

Payloads carry references, never a recipient's address in clear: a forwarded email must not
leak who it was sent to. Senders pass an opaque recipient reference (a hash or an id).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from itsdangerous import BadData, URLSafeSerializer

from edge.hosts import normalise_host
from edge.model.events import EventType
from edge.tokens.signing import (
    SCHEMES,
    CachedURLSafeSerializer,
    CompactSerializer,
    abbreviate,
    abbreviate_unquoted,
    json_value,
)

#: The format of the tokens made now (edge.signing.CompactSerializer).
FORMAT_VERSION = 2
#: itsdangerous tokens, made before format 2: still verified, never made.
FORMAT_1 = 1


class TokenError(ValueError):
    """A token could not be made or read. Subclasses say why."""


class BadToken(TokenError):
    """A token failed verification or decoding; ``token`` holds what was presented."""

    def __init__(self, message: str, token: str) -> None:
        super().__init__(message)
        self.token = token


class UnsafeURL(TokenError):
    """A URL that the edge refuses to sign; ``url`` holds it."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


@dataclass(frozen=True, slots=True)
class ClickToken:
    account_id: int
    url: str
    message: str | None = None
    recipient: str | None = None
    link: str | None = None


@dataclass(frozen=True, slots=True)
class OpenToken:
    account_id: int
    message: str | None = None
    recipient: str | None = None
    #: ``open`` for the pixel before ``</body>``, ``initial_open`` for the one after ``<body>``.
    kind: str = "open"


#: A click token's fields: account id, URL, message, recipient reference, link.
ClickFields = tuple[int, str, str | None, str | None, str | None]

OPEN_KINDS = (str(EventType.OPEN), str(EventType.INITIAL_OPEN))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What a browser's URL parser strips from both ends: C0 controls and space, not the other
# Unicode white space (WHATWG URL, "basic URL parser"); a trailing &nbsp; is part of the URL.
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
# The authority of a special URL ends at "/", "\\", "?" or "#" (WHATWG URL §4.4).
_AUTHORITY = re.compile(r"((?i:https?)://)([^/\\?#]*)")
# A URL that safe_url() returns as it is, found in one match: http(s), an ASCII host name
# without userinfo or brackets, then printable ASCII without spaces (nothing to strip,
# refuse or encode).
_PLAIN_URL = re.compile(r"[hH][tT][tT][pP][sS]?://[A-Za-z0-9.\-]+(?::[0-9]*)?(?:[/?#][!-~]*)?")
# The authority of an http(s) URL; see _hostname().
_HTTP_AUTHORITY = re.compile(r"(?i:https?)://([^/?#]*)")


def safe_url(url: str) -> str:
    """Return ``url`` as the exact ``Location`` value the edge will send, or raise UnsafeURL.

    Only absolute http(s) URLs with a host are signed. An internationalised host becomes
    its A-labels (IDNA, as browsers send it; ``edge.hosts.normalise_host``), since a
    percent-encoded host resolves nowhere. Other characters that cannot appear in a header
    (non-ASCII, spaces) are percent-encoded as a browser would (RFC 3986 §2.1); control
    characters are refused outright since they enable header injection.
    """
    if _PLAIN_URL.fullmatch(url) is not None:
        return url
    url = url.strip(_C0_AND_SPACE)
    if _CONTROL.search(url):
        raise UnsafeURL("URL contains control characters", url)
    if not _hostname(url):
        raise UnsafeURL("URL has no host", url)
    if not url.isascii() or " " in url:
        url = quote(_idna_host(url), safe="!#$%&'()*+,/:;=?@[]~")
    return url


def _idna_host(url: str) -> str:
    """``url`` with a non-ASCII host in A-labels; UnsafeURL when it is no valid name."""
    m = _AUTHORITY.match(url)
    if m is None or m.group(2).isascii():
        return url
    userinfo, at, host_port = m.group(2).rpartition("@")
    host, colon, port = host_port.partition(":")
    if host.isascii() or host.startswith("["):  # an IPv6 literal is no name: quoted as is
        return url
    name = normalise_host(host)
    if name is None:
        raise UnsafeURL("URL host is not a valid domain name", url)
    return f"{m.group(1)}{userinfo}{at}{name}{colon}{port}{url[m.end() :]}"


def _hostname(url: str) -> str | None:
    """``urlsplit(url).hostname`` of an http(s) URL; UnsafeURL for any other scheme.

    ``urlsplit`` costs more than the rest of signing a token, so the usual case (an ASCII
    authority without IPv6 brackets) is read directly, with the same result; anything else
    goes through ``urlsplit``. ``url`` is stripped and free of control characters.
    """
    m = _HTTP_AUTHORITY.match(url)
    if m is not None:
        netloc = m.group(1)
        if netloc.isascii() and "[" not in netloc and "]" not in netloc:
            return netloc.rpartition("@")[2].partition(":")[0]
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket: "Invalid IPv6 URL"
        raise UnsafeURL(str(exc), url) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeURL("only http and https URLs can be tracked", url)
    return parts.hostname


class TokenCodec:
    """Signs and verifies tokens with a list of secrets: the first signs, all verify.

    That is how keys rotate (``EDGE_SECRET_KEYS=new,old``): links signed with ``old`` keep
    working while every new link is signed with ``new``.
    """

    #: Salts keep the two token kinds apart (itsdangerous derives a key per salt).
    click_salt = b"tracking-edge.click"
    open_salt = b"tracking-edge.open"

    def __init__(self, secret_keys: Sequence[str | bytes]) -> None:
        self.rekey(secret_keys)

    def rekey(self, secret_keys: Sequence[str | bytes]) -> None:
        """Sign and verify with these keys from now on (a cluster's shared keys are read
        from its database when a node starts, after the codec was built)."""
        if not secret_keys:
            raise ValueError("at least one secret key is needed")
        # itsdangerous signs with the *last* key of its list and verifies with all of them.
        keys = list(reversed(secret_keys))
        #: Keys of recipient references, newest first: new links use the first; an erasure
        #: looks for the references any of them made (links sent before a rotation).
        self._recipient_keys = [k.encode() if isinstance(k, str) else k for k in secret_keys]
        self._recipient_key = self._recipient_keys[0]
        # Format 1, only read: URLSafeSerializer with the per-key work done once.
        self._click_v1 = CachedURLSafeSerializer(keys, salt=self.click_salt)
        self._open_v1 = CachedURLSafeSerializer(keys, salt=self.open_salt)
        # Format 2: made and read.
        self._click = CompactSerializer(secret_keys, self.click_salt)
        self._open = CompactSerializer(secret_keys, self.open_salt)

    def sign_click(
        self,
        account_id: int,
        url: str,
        *,
        message: str | None = None,
        recipient: str | None = None,
        link: str | None = None,
    ) -> str:
        recipient = self.recipient_ref(recipient)
        payload = [FORMAT_VERSION, account_id, safe_url(url), message, recipient, link]
        return self._click.dumps(_trim(payload))

    def click_signer(
        self,
        account_id: int,
        *,
        message: str | None = None,
        recipient: str | None = None,
        checked: bool = False,
    ) -> Callable[[str, str | None], str]:
        """``sign_click`` for many links of one message: ``sign(url, link)``.

        The tokens are the ones :meth:`sign_click` makes, byte for byte; the fields shared by
        every link (account, message, recipient reference) are encoded and abbreviated once,
        not per link. With ``checked``, every ``url`` must be one :func:`safe_url` returns
        unchanged (the caller has checked it, as the rewriter does): it is not checked a
        second time.
        """
        recipient = self.recipient_ref(recipient)
        head = f"[{FORMAT_VERSION},{json_value(account_id)},"
        shared = [json_value(message), json_value(recipient)]
        with_link = "," + ",".join(shared) + ","
        # Without a link, trailing nulls are dropped (_trim()).
        while shared and shared[-1] == "null":
            shared.pop()
        without_link = "".join("," + v for v in shared) + "]"
        sign_json = self._click.sign_json
        sign_abbreviated = self._click.sign_abbreviated
        # The usual URL and link are written as they are in JSON: the JSON around them is
        # abbreviated here, once, then each token's in one call (signing.py says why that is
        # exact). The URL is cut after its scheme; a link that might start with one is not
        # usual.
        https_head, http_head = (abbreviate(f'{head}"{scheme}') for scheme in SCHEMES)
        plain_head = abbreviate(f'{head}"')
        link_head = abbreviate(f'"{with_link}"')
        no_link_tail = abbreviate(f'"{without_link}')

        def sign(url: str, link: str | None = None) -> str:
            if not checked:
                url = safe_url(url)
            # safe_url() leaves no control character in a URL, nor is one ",".
            if '"' not in url and "\\" not in url:
                # Slices and "==": cheaper than startswith().
                if url[:8] == "https://":
                    url_head, rest = https_head, url[8:]
                elif url[:7] == "http://":
                    url_head, rest = http_head, url[7:]
                else:
                    url_head, rest = plain_head, url
                if link is None:
                    return sign_abbreviated(abbreviate_unquoted(url_head + rest + no_link_tail))
                if (
                    '"' not in link
                    and "\\" not in link
                    and ":" not in link  # then it starts with no scheme
                    and link != ","
                    and link.isprintable()  # stricter than JSON's escapes, cheap on a name
                ):
                    text = f'{url_head}{rest}{link_head}{link}"]'
                    return sign_abbreviated(abbreviate_unquoted(text))
            # Anything else: the whole JSON, abbreviated as a whole.
            url = encode_basestring(url)
            if link is None:
                return sign_json(head + url + without_link)
            return sign_json(head + url + with_link + json_value(link) + "]")

        return sign

    def sign_open(
        self,
        account_id: int,
        *,
        message: str | None = None,
        recipient: str | None = None,
        kind: str = "open",
    ) -> str:
        if kind not in OPEN_KINDS:
            raise ValueError(f"open kind must be one of {OPEN_KINDS}")
        recipient = self.recipient_ref(recipient)
        payload = [FORMAT_VERSION, account_id, message, recipient, kind]
        return self._open.dumps(_trim(payload))

    def recipient_ref(self, recipient: str | None) -> str | None:
        """An opaque reference for ``recipient``: an address is replaced by a keyed hash.

        Token payloads are signed, not encrypted, so an address would be readable by anyone
        the email is forwarded to. The hash is stable for a key, so unique counts still work.
        """
        if recipient is None or "@" not in recipient:
            return recipient
        return _address_ref(self._recipient_key, recipient)

    def recipient_refs(self, recipient: str) -> list[str]:
        """Every reference links may carry for ``recipient``: an address hashed with each
        configured key, newest first (links signed before a key rotation carry the older
        keys' hashes); any other reference as given. The erasure API looks for these."""
        if "@" not in recipient:
            return [recipient]
        return list(dict.fromkeys(_address_ref(k, recipient) for k in self._recipient_keys))

    def purpose_key(self, purpose: str) -> bytes:
        """A secret of its own for ``purpose`` (HMAC-SHA256 of the newest key): the admin
        console signs its cookies and CSRF tokens with one. A rotation ends what it signed."""
        return hmac.new(
            self._recipient_key, b"purpose:" + purpose.encode(), hashlib.sha256
        ).digest()

    def domain_proof(self, domain: str) -> str:
        """The value the edge answers at ``/.well-known/tracking-edge/verify`` for ``domain``.

        Verification fetches it through the customer's DNS: getting the right value back
        proves the name reaches this edge, not merely that a CNAME exists.
        """
        digest = hmac.new(self._recipient_key, b"domain-proof:" + domain.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def read_click(self, token: str) -> ClickToken:
        """Verify a click token; raise :class:`BadToken` when it was not signed by us."""
        return ClickToken(*self.click_fields(token))

    def click_fields(self, token: str) -> ClickFields:
        """:meth:`read_click`'s fields as a tuple, in :class:`ClickToken` order: the edge's
        hot path reads them without building the (frozen, slower to make) dataclass."""
        p = self._load(self._click, self._click_v1, token)
        n = len(p)
        if n < 3 or not isinstance(p[1], int) or not isinstance(p[2], str):
            raise BadToken("malformed click payload", token)
        if n >= 6:
            return p[1], p[2], p[3], p[4], p[5]
        p += [None] * (6 - n)
        return p[1], p[2], p[3], p[4], p[5]

    def read_open(self, token: str) -> OpenToken:
        """Verify an open token; raise :class:`BadToken` when it was not signed by us."""
        p = self._load(self._open, self._open_v1, token)
        if len(p) < 2 or not isinstance(p[1], int):
            raise BadToken("malformed open payload", token)
        p = p + [None] * (5 - len(p))
        kind = p[4] if p[4] in OPEN_KINDS else "open"
        return OpenToken(p[1], p[2], p[3], kind)

    @staticmethod
    def _load(serializer: CompactSerializer, v1: URLSafeSerializer, token: str) -> list[Any]:
        # The first character tells the formats apart: format 2 tokens start with "2",
        # format 1 ones with "W" or "." (edge/signing.py).
        version = FORMAT_VERSION if token[:1] == CompactSerializer.marker else FORMAT_1
        try:
            payload = (serializer if version == FORMAT_VERSION else v1).loads(token)
        except (BadData, ValueError, UnicodeError) as exc:
            # zlib and JSON errors surface as ValueError subclasses from a forged payload.
            raise BadToken(f"token does not verify: {exc.__class__.__name__}", token) from None
        if type(payload) is not list or not payload or payload[0] != version:
            raise BadToken("unknown token format", token)
        return payload


def _address_ref(key: bytes, address: str) -> str:
    """The reference of an email address: a keyed hash of it, case and spaces aside."""
    digest = hmac.new(key, address.strip().lower().encode(), hashlib.sha256)
    return "h:" + digest.hexdigest()[:24]


def _trim(payload: list[Any]) -> list[Any]:
    """Drop trailing ``None`` fields: shorter tokens, same meaning."""
    while payload and payload[-1] is None:
        payload.pop()
    return payload


def load_secret_keys(configured: Sequence[str], data_dir: Path) -> list[str]:
    """The signing keys: ``configured`` when given, else the persisted generated secret.

    On first start a 256-bit secret is written to ``<data_dir>/secret_keys`` (mode 0600).
    Creation is atomic (a hard link cannot replace an existing file), so workers starting
    together agree on one secret.
    """
    if configured:
        return list(configured)
    path = data_dir / "secret_keys"
    if not path.exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # it holds the secrets
        tmp = data_dir / f".secret_keys.{secrets.token_hex(8)}"
        tmp.write_text(secrets.token_urlsafe(32) + "\n")
        tmp.chmod(0o600)
        try:
            path.hardlink_to(tmp)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    keys = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not keys:
        raise ValueError(f"{path} holds no key")
    return keys
