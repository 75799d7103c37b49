"""Certificates: issuance after verification, the HTTPS proof, renewal, and TLS wiring.

``lifecycle`` (the provisioner: ``unavailable → provisioning → active | failed``),
``issuance`` (the issuer protocol), ``acme`` and ``local_ca`` (issuers), ``challenges``
(HTTP-01 answers), ``https_proof``, ``wiring`` (built from the settings; the ``ask`` endpoint).

May import: :mod:`edge`, :mod:`admin.api`, :mod:`admin.accounts`, :mod:`admin.domains`,
:mod:`admin.outbound`.
"""
