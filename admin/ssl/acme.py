"""Certificates from an ACME CA (RFC 8555), answering HTTP-01 challenges from the edge itself.

The ``acme`` library is blocking (requests), so every call to the CA runs in a thread
(:func:`asyncio.to_thread`) while publishing challenges and waiting happen on the loop.

The account key is created once per directory URL and kept in ``<data_dir>/acme/`` (0600), so
restarts and every worker process use the same account; the account itself is registered (or
found again: RFC 8555 §7.3.1 answers an existing key with its account) on first use.
External account binding (RFC 8555 §7.3.4) is sent when a key id and HMAC key are configured.

Orders are polled with short, growing pauses rather than ``poll_and_finalize``'s fixed
one-second sleeps: a CA that answers in milliseconds should not cost seconds per certificate.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from admin.ssl.challenges import ChallengeBoard
from admin.ssl.issuance import IssuanceError, IssuedCertificate
from admin.ssl.local_ca import key_pem, new_key

USER_AGENT = "tracking-edge"


@dataclass(frozen=True)
class AcmeAccountConfig:
    directory: str
    email: str = ""
    eab_kid: str = ""
    eab_hmac: str = ""
    #: CA bundle for the directory's HTTPS; empty: the system's (via requests).
    ca_bundle: str = ""


class AcmeIssuer:
    #: Longest pause between two polls of an authorisation or order.
    max_poll_interval = 1.0
    #: How long an order may take from creation to certificate.
    order_timeout = 90.0

    def __init__(self, config: AcmeAccountConfig, key_dir: Path, board: ChallengeBoard) -> None:
        self.config = config
        self.name = config.directory
        self.key_dir = Path(key_dir)
        self.board = board
        self._client: client.ClientV2 | None = None
        self._lock = asyncio.Lock()

    # -- account --------------------------------------------------------------------------

    def _account_key(self) -> JWKEC:
        digest = hashlib.sha256(self.config.directory.encode()).hexdigest()[:16]
        path = self.key_dir / f"account-{digest}.pem"
        if not path.exists():
            self.key_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(key_pem(new_key()))
            # Two workers starting together: the first link wins, both then read it.
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return JWKEC(key=key)

    def _connect(self) -> client.ClientV2:
        """Blocking: directory, account key, and the account (registered or looked up)."""
        key = self._account_key()
        verify: bool | str = self.config.ca_bundle or True
        # acme annotates verify_ssl as a bool, but hands it to requests' ``verify``, which
        # takes a CA bundle's path as well.
        net = client.ClientNetwork(
            key, alg=ES256, user_agent=USER_AGENT, verify_ssl=verify  # type: ignore[arg-type]
        )
        directory = client.ClientV2.get_directory(self.config.directory, net)
        acme = client.ClientV2(directory, net)
        eab = None
        if self.config.eab_kid and self.config.eab_hmac:
            eab = messages.ExternalAccountBinding.from_data(
                account_public_key=key.public_key(),
                kid=self.config.eab_kid,
                hmac_key=self.config.eab_hmac,
                directory=directory,
            )
        elif acme.external_account_required():
            raise IssuanceError(
                "the ACME CA requires external account binding: "
                "set EDGE_ACME_EAB_KID and EDGE_ACME_EAB_HMAC"
            )
        registration = messages.NewRegistration.from_data(
            email=self.config.email or None,
            terms_of_service_agreed=True,
            external_account_binding=eab,
        )
        try:
            net.account = acme.new_account(registration)
        except errors.ConflictError as exc:
            # The key already has an account: §7.3.1 points at it with Location.
            net.account = acme.query_registration(
                messages.RegistrationResource(uri=exc.location, body=messages.Registration())
            )
        return acme

    async def _acme(self) -> client.ClientV2:
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.to_thread(self._connect)
                except messages.Error as exc:
                    raise IssuanceError(_problem(exc)) from None
                except IssuanceError:
                    raise
                except Exception as exc:
                    raise IssuanceError(f"ACME directory unreachable: {exc}") from None
            return self._client

    # -- issuing --------------------------------------------------------------------------

    async def issue(self, domain: str) -> IssuedCertificate:
        acme = await self._acme()
        key = await asyncio.to_thread(new_key)
        csr = await asyncio.to_thread(crypto_util.make_csr, key_pem(key).encode(), [domain])
        tokens: list[str] = []
        try:
            order = await asyncio.to_thread(acme.new_order, csr)
            deadline = time.monotonic() + self.order_timeout
            for authz in order.authorizations:
                if authz.body.status == messages.STATUS_VALID:
                    continue
                challb = _http01(authz)
                response, validation = challb.response_and_validation(acme.net.key)
                token = challb.chall.encode("token")
                await self.board.publish(domain, token, validation)
                tokens.append(token)
                await asyncio.to_thread(acme.answer_challenge, challb, response)
                await self._await_authorization(acme, authz, deadline)
            order = await asyncio.to_thread(acme.begin_finalization, order)
            chain = await self._await_certificate(acme, order, deadline)
        except messages.Error as exc:
            if exc.code in ("accountDoesNotExist", "unauthorized"):
                self._client = None  # the CA forgot the account (or its key): register again
            raise IssuanceError(_problem(exc)) from None
        except errors.Error as exc:
            raise IssuanceError(f"ACME: {exc}") from None
        except OSError as exc:  # requests' ConnectionError is one
            raise IssuanceError(f"ACME CA unreachable: {exc}") from None
        finally:
            for token in tokens:
                await self.board.withdraw(token)
        return IssuedCertificate(chain, key_pem(key))

    async def _await_authorization(
        self, acme: client.ClientV2, authz: messages.AuthorizationResource, deadline: float
    ) -> None:
        pause = 0.02
        while True:
            authz, _ = await asyncio.to_thread(acme.poll, authz)
            status = authz.body.status
            if status == messages.STATUS_VALID:
                return
            if status not in (messages.STATUS_PENDING, messages.STATUS_PROCESSING):
                errors_ = [c.error for c in authz.body.challenges if c.error is not None]
                raise IssuanceError(
                    _problem(errors_[0]) if errors_ else f"authorization {status.name}"
                )
            if time.monotonic() + pause > deadline:
                raise IssuanceError("the CA did not validate the challenge in time")
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.max_poll_interval)

    async def _await_certificate(
        self, acme: client.ClientV2, order: messages.OrderResource, deadline: float
    ) -> str:
        pause = 0.02
        new_nonce = acme.directory["newNonce"]
        while True:
            body = order.body
            if body.status == messages.STATUS_VALID and body.certificate is not None:
                response = await asyncio.to_thread(
                    acme.net.post, body.certificate, None, new_nonce_url=new_nonce
                )
                return response.text
            if body.status == messages.STATUS_INVALID:
                raise IssuanceError(_problem(body.error) if body.error else "order invalid")
            if time.monotonic() + pause > deadline:
                raise IssuanceError("the CA did not issue the certificate in time")
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.max_poll_interval)
            response = await asyncio.to_thread(
                acme.net.post, order.uri, None, new_nonce_url=new_nonce
            )
            order = order.update(body=messages.Order.from_json(response.json()))


def _http01(authz: messages.AuthorizationResource) -> messages.ChallengeBody:
    for challb in authz.body.challenges:
        if isinstance(challb.chall, challenges.HTTP01):
            return challb
    raise IssuanceError(f"the CA offers no HTTP-01 challenge for {authz.body.identifier.value}")


def _problem(error: messages.Error) -> str:
    """The CA's words: ``detail`` with the problem type (RFC 8555 §6.7)."""
    kind = (error.typ or "").rsplit(":", 1)[-1]
    detail = error.detail or error.title or "error"
    return f"{kind}: {detail}" if kind else detail
