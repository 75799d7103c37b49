"""Tracking domains: the one domain service and its two API dialects.

``validation`` (names), ``service`` (state machine, scoping), ``dns`` and ``reachability``
(verification), ``sending`` (sending domains), ``provisioning`` (the seam to SSL),
``sparkpost`` and ``customer`` (the dialects: thin translations over the service).

May import: :mod:`edge`, :mod:`admin.api`, :mod:`admin.accounts`, :mod:`admin.outbound`.
"""
