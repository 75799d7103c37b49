"""The two token formats: itsdangerous's (format 1, read forever) and format 2 (made now).

**Format 1** is an itsdangerous ``URLSafeSerializer`` dump: compact JSON, zlib when shorter,
base64url, HMAC-SHA1. Every token sent before format 2 has it, and people click year-old
emails, so the edge verifies it forever. :class:`CachedURLSafeSerializer` reads and writes it
byte for byte as itsdangerous does (``tests/test_signing.py`` holds that equivalence), with
the per-key work done once instead of per token.

**Format 2** exists because format 1's ``zlib.compress`` set up ~256 KB of deflate state for
every token: most of the cost of signing one, while a payload of a hundred bytes barely
compresses. It is an itsdangerous signed value too (:class:`Format2Serializer`, plain
itsdangerous classes): the payload is ``"2"`` and the base64url of the UTF-8 compact JSON with
common URL and JSON substrings abbreviated to one byte (:data:`ABBREVIATIONS`), the
signature a 128-bit keyed BLAKE2s (RFC 7693 keyed mode, a MAC; an itsdangerous
``SigningAlgorithm``) under itsdangerous's HMAC-SHA256 key derivation. It is shorter than
format 1 and several times cheaper to make and to verify. :class:`CompactSerializer` makes and
reads the same tokens byte for byte, with the per-key work done once (tested against
:class:`Format2Serializer`).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import zlib
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring as _encode_string
from typing import Any

from itsdangerous import BadPayload, BadSignature, Serializer, URLSafeSerializer
from itsdangerous.encoding import base64_decode, base64_encode, want_bytes
from itsdangerous.signer import HMACAlgorithm, Signer, SigningAlgorithm


class _CompactJSON:
    """itsdangerous's compact JSON (``separators=(",", ":")``, ``ensure_ascii=False``), faster.

    Token payloads are flat lists of integers, strings and nulls; those are written directly
    with the C string encoder ``json`` itself uses, anything else goes through an encoder
    built once. The text is the same either way.
    """

    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

    @staticmethod
    def loads(payload: str | bytes) -> Any:
        return json.loads(payload)

    @classmethod
    def dumps(cls, obj: Any, **kwargs: Any) -> str:
        if type(obj) is list:
            parts = []
            for item in obj:
                kind = type(item)
                if kind is str:
                    parts.append(_encode_string(item))
                elif kind is int:
                    parts.append(int.__repr__(item))
                elif item is None:
                    parts.append("null")
                else:
                    return cls._encoder.encode(obj)
            return "[" + ",".join(parts) + "]"
        return cls._encoder.encode(obj)


class _PrekeyedHMAC(HMACAlgorithm):
    """HMAC from a copy of an object already keyed: the key schedule is computed once per key.

    ``copy()`` of a keyed HMAC continues from its inner and outer pads, so the result is the
    same bytes as ``hmac.new(key, value, digest)``, at less than half the cost.
    """

    def __init__(self, digest_method: Any = None) -> None:
        super().__init__(digest_method)
        self._keyed: dict[bytes, hmac.HMAC] = {}

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        keyed = self._keyed.get(key)
        if keyed is None:
            keyed = self._keyed[key] = hmac.new(key, digestmod=self.digest_method)
        mac = keyed.copy()
        mac.update(value)
        return mac.digest()


class KeyCachingSigner(Signer):
    """A ``Signer`` that derives each secret's key once.

    The derived key depends only on the secret and the salt, both fixed for the life of the
    signer, so caching it changes no signature.
    """

    default_key_derivation = "django-concat"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("algorithm", _PrekeyedHMAC(kwargs.get("digest_method")))
        super().__init__(*args, **kwargs)
        self._derived: dict[bytes, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        secret = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        key = self._derived.get(secret)
        if key is None:
            key = self._derived[secret] = super().derive_key(secret)
        return key


class CachedURLSafeSerializer(URLSafeSerializer):
    """``URLSafeSerializer`` reusing one :class:`KeyCachingSigner` per salt."""

    default_signer = KeyCachingSigner
    default_serializer = _CompactJSON

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Keyed by salt; None (no salt given) is the signer's default salt.
        self._signers: dict[bytes | None, Signer] = {}
        self._verify_keys: list[tuple[bytes, Any]] | None = None

    def dumps(self, obj: Any, salt: str | bytes | None = None) -> str:
        """``URLSafeSerializer.dumps`` written out in one function, for the default salt.

        The steps are itsdangerous's own: compact JSON, zlib when that is more than one byte
        shorter (marked by a leading "."), unpadded base64url, "." and the base64url
        HMAC-SHA1 of all that under the key derived from the newest secret.
        """
        if salt is not None:
            return super().dumps(obj, salt)
        payload = _CompactJSON.dumps(obj).encode("utf-8")
        compressed = zlib.compress(payload)
        shorter = len(compressed) < len(payload) - 1
        body = b"." + _b64(compressed) if shorter else _b64(payload)
        signer = self.make_signer()
        signature = signer.algorithm.get_signature(signer.derive_key(), body)
        return (body + signer.sep + _b64(signature)).decode("ascii")

    def loads(self, s: str | bytes, salt: str | bytes | None = None, **kwargs: Any) -> Any:
        """``URLSafeSerializer.loads`` written out in one function, for the default salt.

        The edge verifies one token per request, so this is the hot path. Same steps and the
        same errors as itsdangerous: split at the last ".", base64url-decode the signature,
        compare (in constant time) with the HMAC under each secret's derived key, newest
        first, then decode the body, inflating it when it starts with ".".
        """
        if salt is not None or kwargs:
            return super().loads(s, salt, **kwargs)
        signed = want_bytes(s)
        body, sep, signature = signed.rpartition(b".")
        if not sep:
            raise BadSignature("No b'.' found in value")
        try:
            given = _b64decode(signature)
        except (TypeError, ValueError):
            given = b""
        keys = self._verify_keys
        if keys is None:
            signer = self.make_signer()
            digest = signer.digest_method
            keys = self._verify_keys = [
                (signer.derive_key(k), digest) for k in reversed(signer.secret_keys)
            ]
        # hmac.digest is OpenSSL's one-shot HMAC: the same bytes as itsdangerous's HMAC
        # object, without building one per token.
        if not any(hmac.compare_digest(given, hmac.digest(k, body, d)) for k, d in keys):
            raise BadSignature(f"Signature {signature!r} does not match", payload=body)
        compressed = body.startswith(b".")
        try:
            payload = _b64decode(body[1:] if compressed else body)
            if compressed:
                payload = zlib.decompress(payload)
            return json.loads(payload.decode("utf-8"))
        except (TypeError, ValueError, zlib.error) as exc:
            # Only a signed payload gets here: that it does not decode is our bug, not
            # forgery; itsdangerous reports it the same way.
            raise BadPayload(f"Could not load the payload: {exc}", original_error=exc) from exc

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        salt = self.salt if salt is None else want_bytes(salt)
        signer = self._signers.get(salt)
        if signer is None:
            signer = self._signers[salt] = super().make_signer(salt)
        return signer


_URLSAFE = bytes.maketrans(b"+/", b"-_")
_b2a_base64 = binascii.b2a_base64
_blake2s = hashlib.blake2s
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64decode(data: bytes) -> bytes:
    """itsdangerous's ``base64_decode`` (URL-safe alphabet, padding optional), in one C call.

    ``binascii.a2b_base64`` is what ``base64.urlsafe_b64decode`` ends in, after three layers of
    Python wrappers; like it, it skips characters outside the alphabet (non-strict mode).
    """
    return binascii.a2b_base64(data.translate(_FROM_URLSAFE) + b"=" * (-len(data) % 4))


def _b64(data: bytes) -> bytes:
    """itsdangerous's ``base64_encode``: URL-safe alphabet, no padding."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


#: Format 2's abbreviations: each is written as one byte, the control character
#: ``chr(index + 1)``. Compact JSON never holds a raw control character (it escapes them),
#: so a control byte in a payload is always an abbreviation and expanding them back is
#: exact whatever the text. Part of the format: changing this table needs a format 3.
ABBREVIATIONS = (
    "[2,",
    ',"https://',
    ',"http://',
    '","',
    ",null",
    "www.",
    "utm_source=",
    "&utm_medium=",
    "&utm_campaign=",
    ".com/",
    "link-",
)
#: Compact JSON of the items of a flat payload, by type.
_FLAT_JSON: dict[type, Callable[[Any], str]] = {
    str: _encode_string,
    int: int.__repr__,
    type(None): lambda _: "null",
}


def json_value(value: Any) -> str:
    """The compact JSON of one payload item, as :meth:`CompactSerializer.dumps` writes it."""
    encode = _FLAT_JSON.get(type(value))
    return _CompactJSON.dumps(value) if encode is None else encode(value)


_ABBREVIATE = [(text, chr(code)) for code, text in enumerate(ABBREVIATIONS, 1)]
_EXPAND = [(chr(code), text) for code, text in enumerate(ABBREVIATIONS, 1)]


def abbreviate(text: str) -> str:
    """``text`` (compact JSON) with the :data:`ABBREVIATIONS` written as one byte each."""
    for long, short in _ABBREVIATE:
        text = text.replace(long, short)
    return text


def expand(text: str) -> str:
    """The inverse of :func:`abbreviate`."""
    for short, long in _EXPAND:
        text = text.replace(short, long)
    return text


# A payload abbreviated in pieces. abbreviate() replaces each abbreviation in turn, leftmost
# first. A replacement takes characters out and puts in a control character, which no
# abbreviation holds: so where no abbreviation straddles a cut in the text at first, none
# ever does, and each side is abbreviated as if alone. Take a string item of the JSON whose
# value is ``scheme + rest``: ``scheme`` one of SCHEMES or "" (then ``rest`` starts with
# neither), ``rest`` written as it is in JSON (no quote, backslash or control character)
# and not "," alone. Cut before and after ``rest``:
# - before it is the opening quote or the scheme's last "/". Abbreviations that go on past
#   either are ',"https://' and ',"http://' (only with that scheme, which is cut off with
#   the quote) and '","' (the quote, then "," and the closing quote: ``rest`` is ",");
# - after it is the closing quote. Abbreviations with a character before a quote are
#   ',"https://' and ',"http://' (a scheme would follow the quote; JSON has "," or "]")
#   and '","' (a quote and a "," before it: ``rest`` holds no quote, nor is it ",").
# So the JSON abbreviates to abbreviate(before + scheme), abbreviate(rest) and
# abbreviate(after): the JSON around the strings that vary is abbreviated once.

#: The schemes that an abbreviation joins to the text before a string starting with one
#: (``,"https://``, ``,"http://``), as the comment above says.
SCHEMES = ("https://", "http://")


def abbreviate_unquoted(text: str) -> str:
    """The abbreviations without a quote replaced in ``text`` as :func:`abbreviate` does:
    ``abbreviate(text)`` when ``text`` holds no quote.

    No abbreviation holds a control character, nor any of these a quote: pieces joined at
    a quote or a control character are each abbreviated as if alone, and text that
    ``abbreviate()`` made (which holds no abbreviation any more) is left as it is. So a
    token's JSON, its fixed parts abbreviated beforehand and the strings that vary written
    as they are between them (see the comment above), is abbreviated in one call.
    """
    if "," in text:  # both "[2," and ",null" hold one; URLs seldom do
        text = text.replace("[2,", "\x01").replace(",null", "\x05")
    return (
        text.replace("www.", "\x06")
        .replace("utm_source=", "\x07")
        .replace("&utm_medium=", "\x08")
        .replace("&utm_campaign=", "\x09")
        .replace(".com/", "\x0a")
        .replace("link-", "\x0b")
    )


#: Put before the salt in format 2's key derivation: its keys are never format 1's.
FORMAT_2_LABEL = b"tracking-edge token format 2\x00"
#: Payloads longer than this (abbreviated) are also deflated when that is shorter, marked
#: by a leading zero byte (never the first byte of abbreviated JSON). Shorter ones are not:
#: deflate's setup costs more than signing and a short payload barely shrinks.
DEFLATE_ABOVE = 200


def pack_payload(text: str) -> bytes:
    """Format 2's payload for compact JSON ``text``: abbreviated, deflated when long."""
    return deflate_long(abbreviate(text).encode("utf-8"))


def deflate_long(data: bytes) -> bytes:
    """``data`` deflated (after a zero byte) if longer than DEFLATE_ABOVE and that is shorter."""
    if len(data) > DEFLATE_ABOVE:
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        packed = b"\x00" + deflate.compress(data) + deflate.flush()
        if len(packed) < len(data):
            return packed
    return data


def unpack_payload(data: bytes) -> Any:
    """The inverse of :func:`pack_payload`, parsed."""
    if data[:1] == b"\x00":
        data = zlib.decompress(data[1:], -15)
    return parse_json(expand(data.decode("utf-8")))


_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # set in __init__


def parse_json(text: str) -> Any:
    """``json.loads(text)``, minus its two layers of Python for a value that fills ``text``
    (compact JSON, as every payload is); anything else, errors included, is json.loads's."""
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        end = -1
    return value if end == len(text) else json.loads(text)


class KeyedBlake2s(SigningAlgorithm):
    """RFC 7693 keyed BLAKE2s as an itsdangerous signing algorithm (format 2's MAC)."""

    digest_size = 16

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hashlib.blake2s(value, key=key, digest_size=self.digest_size).digest()


class Format2Serializer(Serializer):
    """Format 2 made with itsdangerous's own classes: the definition of the format.

    ``secret_keys`` are newest first, as :class:`CompactSerializer` takes them (itsdangerous
    signs with the last key of its list).
    """

    #: Passed to itsdangerous's ``Signer``: its HMAC key derivation, then keyed BLAKE2s.
    signer_options: dict[str, Any] = {
        "key_derivation": "hmac",
        "digest_method": hashlib.sha256,
        "algorithm": KeyedBlake2s(),
    }

    def __init__(self, secret_keys: Sequence[str | bytes], salt: bytes) -> None:
        super().__init__(
            [want_bytes(k) for k in reversed(secret_keys)],
            FORMAT_2_LABEL + salt,
            _CompactJSON,
            signer=Signer,
            signer_kwargs=self.signer_options,
        )

    def dump_payload(self, obj: Any) -> bytes:
        return b"2" + base64_encode(pack_payload(_CompactJSON.dumps(obj)))

    def load_payload(self, payload: bytes, serializer: Any = None) -> Any:
        if payload[:1] != b"2":
            raise BadPayload("not a format 2 payload")
        try:
            return unpack_payload(base64_decode(payload[1:]))
        except (ValueError, zlib.error) as exc:
            raise BadPayload(f"Could not load the payload: {exc}", original_error=exc) from exc


class CompactSerializer:
    """Token format 2 (see the module docstring) for one salt.

    ``secret_keys`` are newest first: the first signs, all verify. Each secret's MAC key is
    derived once, per salt (HMAC-SHA256 of the salt under the secret), so the salts keep
    token kinds apart as itsdangerous's key derivation does for format 1.
    """

    #: The first character of every format 2 token. Format 1 tokens start with "W" (the
    #: base64 of "[") or "." (compressed), never with this.
    marker = "2"
    #: Bytes of BLAKE2s tag: 128 bits, 22 base64url characters.
    tag_size = KeyedBlake2s.digest_size

    def __init__(self, secret_keys: Sequence[str | bytes], salt: bytes) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is needed")
        # itsdangerous's "hmac" key derivation, done once per key.
        label = FORMAT_2_LABEL + salt
        self._keys = [hmac.digest(want_bytes(secret), label, "sha256") for secret in secret_keys]
        # Each key's MAC with the key block already absorbed: a copy of it continues from
        # there, the same tag as a fresh keyed BLAKE2s in less time.
        self._macs = [_blake2s(key=key, digest_size=self.tag_size) for key in self._keys]
        # The signing key's, with the marker absorbed too: every body starts with it.
        self._signing_mac = self._macs[0].copy()
        self._signing_mac.update(self.marker.encode("ascii"))

    def dumps(self, payload: list[Any]) -> str:
        """Sign ``payload``, a list of strings, integers and ``None``."""
        try:  # the compact JSON of a flat list, one C call per item
            text = "[" + ",".join([_FLAT_JSON[type(item)](item) for item in payload]) + "]"
        except KeyError:
            text = _CompactJSON.dumps(payload)
        return self.sign_json(text)

    def sign_json(self, text: str) -> str:
        """Sign a payload given as its compact JSON (what :meth:`dumps` makes of a list)."""
        for long, short in _ABBREVIATE:  # abbreviate(), inline: this runs once per link
            text = text.replace(long, short)
        return self.sign_abbreviated(text)

    def sign_abbreviated(self, text: str) -> str:
        """Sign a payload given as its compact JSON already abbreviated (:func:`abbreviate`).

        :func:`pack_payload` and the tag, written out for the usual short payload: padding
        and newline are deleted in the one pass that makes base64 URL-safe, and the marker
        was put into the MAC beforehand.
        """
        data = deflate_long(text.encode())
        encoded = _b2a_base64(data).translate(_URLSAFE, b"=\n")
        mac = self._signing_mac.copy()
        mac.update(encoded)
        # A 16-byte tag is 22 base64 characters, then "==\n".
        tag = _b2a_base64(mac.digest())[:22].translate(_URLSAFE)
        return f"2{encoded.decode()}.{tag.decode()}"  # "2": the marker

    def loads(self, token: str) -> Any:
        """The payload of ``token``; ``BadSignature`` unless one of the keys signed it.

        The edge verifies one token per request, so this is the tag check and
        :func:`unpack_payload` written out in one function: a Python call costs about as
        much as one of these steps.
        """
        body, sep, tag = token.rpartition(".")
        if not sep or not token.isascii() or body[:1] != self.marker:
            raise BadSignature("not a format 2 token")
        body_bytes, given = body.encode("ascii"), tag.encode("ascii")
        # Compared as base64 text: exactly one spelling of the tag verifies.
        for keyed in self._macs:
            mac = keyed.copy()
            mac.update(body_bytes)
            expected = _b2a_base64(mac.digest(), newline=False).translate(_URLSAFE).rstrip(b"=")
            if hmac.compare_digest(given, expected):
                break
        else:
            raise BadSignature("Signature does not match", payload=body_bytes)
        try:
            data = _b64decode(body_bytes[1:])
            if data[:1] == b"\x00":
                data = zlib.decompress(data[1:], -15)
            text = data.decode("utf-8")
            for short, long in _EXPAND:  # expand(), inline
                text = text.replace(short, long)
            try:  # parse_json(), inline
                value, end = _scan_json(text, 0)
            except StopIteration:
                end = -1
            return value if end == len(text) else json.loads(text)
        except (ValueError, zlib.error) as exc:
            # Only a signed payload gets here: that it does not decode is our bug.
            raise BadPayload(f"Could not load the payload: {exc}", original_error=exc) from exc
