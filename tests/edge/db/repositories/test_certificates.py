"""The certificate repository: which certificates are withheld, and which are due, by the
served rule (a domain's certificate is presented and renewed only while it is served)."""

from __future__ import annotations

import time

import pytest

from admin.ssl.local_ca import LocalCA
from edge.model.certificates import CertificateRecord
from edge.model.domains import SslStatus
from tests.stores import in_store, put_domain

#: Tracking domains in every state that matters, with the served ones first.
STATES = {
    "served.test": ("valid", "valid"),
    "also-served.test": ("valid", "valid"),
    "new.test": ("unverified", "pending"),
    "blocked.test": ("valid", "blocked"),
    "gone.test": ("invalid", "valid"),
    "blocked-gone.test": ("invalid", "blocked"),
}


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> LocalCA:
    return LocalCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def certificates(ca) -> dict[str, CertificateRecord]:
    """A certificate for every name of :data:`STATES`, and one for a name without a domain
    (the platform's default domain has none)."""
    names = [*STATES, "no-domain.test"]
    return {
        name: CertificateRecord.from_pem(name, issued.chain_pem, issued.key_pem)
        for name in names
        for issued in [ca.issue_now(name)]
    }


def _store_all(make_store, certificates, *, active: bool = False) -> None:
    async def setup(tx):
        for name, (cname, compliance) in STATES.items():
            domain_id = await put_domain(
                tx, 1, name, cname_status=cname, compliance_status=compliance
            )
            if active:
                await tx.domains.set_ssl_status(domain_id, SslStatus.ACTIVE, now=1)
        for record in certificates.values():
            await tx.certificates.save(record, now=1)

    in_store(make_store, setup)


def test_certificates_of_domains_not_served_are_withheld(make_store, certificates):
    _store_all(make_store, certificates)
    withheld = in_store(make_store, lambda db: db.certificates.withheld(), write=False)
    assert withheld == {"new.test", "blocked.test", "gone.test", "blocked-gone.test"}


def test_a_withheld_certificate_is_kept_and_presented_again_when_unblocked(
    make_store, certificates
):
    _store_all(make_store, certificates)

    async def unblock(tx):
        (blocked,) = await tx.domains.named("blocked.test")
        await tx.domains.set_compliance(blocked.id, blocked=False, now=2)

    in_store(make_store, unblock)
    withheld = in_store(make_store, lambda db: db.certificates.withheld(), write=False)
    kept = in_store(make_store, lambda db: db.certificates.get("blocked.test"), write=False)
    assert withheld == {"new.test", "gone.test", "blocked-gone.test"}
    assert kept == certificates["blocked.test"]


def test_only_served_domains_are_due_for_renewal(make_store, certificates):
    _store_all(make_store, certificates, active=True)
    # Every certificate expires within the renewal window (they are valid for days).
    due = in_store(
        make_store,
        lambda db: db.certificates.due(time.time(), renew_before_expiry=10 * 365 * 86400),
        write=False,
    )
    assert sorted(name for _, name in due) == ["also-served.test", "served.test"]


def test_an_unverified_claim_on_a_served_name_does_not_withhold_its_certificate(
    make_store, certificates
):
    """Several accounts may claim a name: the owner's certificate is presented whatever the
    others' claims are; a name whose claims are all unserved is withheld."""
    _store_all(make_store, certificates)

    async def claims(tx):
        other = await tx.accounts.ensure("other", now=1)
        for name in ("served.test", "new.test"):
            await tx.domains.insert(other.id, name, secure=False, now=1)

    in_store(make_store, claims)
    withheld = in_store(make_store, lambda db: db.certificates.withheld(), write=False)
    assert withheld == {"new.test", "blocked.test", "gone.test", "blocked-gone.test"}
