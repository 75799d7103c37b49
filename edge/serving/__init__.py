"""Serving: the node's HTTP(S) front, from the socket to the tracking reply.

``server`` (host dispatch and lifespan), ``tracking`` (redirects, pixels), ``domains`` and
``certificates`` (in-memory copies kept fresh by ``mirror``), ``clientaddr``, and the only
code that touches uvicorn's internals (``protocol``, ``listeners``).

May import: :mod:`edge.model`, :mod:`edge.config`, :mod:`edge.hosts`, :mod:`edge.db`,
:mod:`edge.tokens`, :mod:`edge.events`.
"""
