"""Outbound requests to hosts a customer controls: the one guard against server-side request
forgery.

The reachability check, the HTTPS proof and webhook delivery connect to names a customer's
DNS, or a URL an account registers, chooses. They all go through this package, and no other
code resolves a name for an outbound request:

``policy``   which addresses may be connected to: globally routable ones plus the networks an
             operator allows (``EDGE_VERIFY_ALLOW_NETWORKS``, ``EDGE_WEBHOOK_ALLOW_NETWORKS``)
``resolve``  the host by the one host rule (:func:`edge.hosts.normalise_host`), resolved once
             through the configured resolvers (``EDGE_DNS_NAMESERVERS``)
``client``   httpx connecting to exactly the address that was checked, with the name in
             ``Host`` and in TLS (SNI and certificate verification)

May import: :mod:`edge`.
"""
