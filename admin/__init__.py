"""Management side of the tracking edge: the admin API, the console, the CLI.

Packages, each a capability, and what each may import (held by ``lint-imports``, with the
contracts in pyproject.toml)::

    admin.api         API plumbing: errors, contracts, OpenAPI              edge
    admin.outbound    the SSRF guard: address policy, resolution, HTTP      edge
                      pinned to the checked address
    admin.accounts    accounts, API keys, authentication                    edge, api
    admin.domains     validation, the domain service, DNS, reachability,    edge, api, accounts,
                      sending domains, both dialects                        outbound
    admin.ssl         certificate lifecycle, ACME, local CA, HTTPS proof,   edge, api, accounts,
                      challenges, TLS wiring                                domains, outbound
    admin.engagement  stats, events API, webhooks, retention                edge, api, accounts,
                                                                            outbound
    admin.rewrite     the rewrite API                                       edge, api, accounts,
                                                                            domains
    admin.cli         the command line                                      everything

``app`` and ``server`` at the top are the composition root: they build every capability and
wire it into one ASGI app. ``admin`` may import ``edge``; ``edge`` never imports ``admin``.
"""
