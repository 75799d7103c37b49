"""An itsdangerous ``URLSafeSerializer`` that does its per-key work once, not per token.

Plain itsdangerous builds a new ``Signer`` for every ``dumps``/``loads`` and re-derives the
HMAC key from the secret (a SHA-1 over salt and secret) on every call, and its compact JSON
builds a new encoder each time. None of that depends on the token, so with a fixed salt it
is done once here. Rewriting a newsletter signs hundreds of tokens, and the edge verifies one
per request, so this is most of the cost of a token.

The output is byte for byte what ``itsdangerous.URLSafeSerializer`` produces (same JSON, same
compression, same key derivation, same HMAC-SHA1), so tokens made either way verify with
either; ``tests/test_signing.py`` holds that equivalence.
"""

from __future__ import annotations

import binascii
import hmac
import json
import zlib
from json.encoder import encode_basestring as _encode_string
from typing import Any

from itsdangerous import BadPayload, BadSignature, URLSafeSerializer
from itsdangerous.encoding import want_bytes
from itsdangerous.signer import HMACAlgorithm, Signer


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
        self._signers: dict[bytes, Signer] = {}
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
