"""The rewrite API: ``POST /api/v1/rewrite`` over :mod:`edge.rewrite`.

May import: :mod:`edge`, :mod:`admin.api`, :mod:`admin.accounts`, :mod:`admin.domains`.
"""
