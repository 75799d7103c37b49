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

from itsdangerous import URLSafeSerializer
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

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        salt = self.salt if salt is None else want_bytes(salt)
        signer = self._signers.get(salt)
        if signer is None:
            signer = self._signers[salt] = super().make_signer(salt)
        return signer


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> bytes:
    """itsdangerous's ``base64_encode``: URL-safe alphabet, no padding."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")
