"""Serving: the node's HTTP(S) front, from the socket to the tracking reply.

``server`` (host dispatch and lifespan), ``tracking`` (redirects, pixels), ``domains`` and
``certificates`` (in-memory copies kept fresh by ``mirror``), ``clientaddr``, ``connections``
(what an HTTP connection needs besides uvicorn), and ``uvicorn_internals``, the only module
that uses uvicorn's internals (the fast path, HTTPS beside HTTP).

May import: :mod:`edge.model`, :mod:`edge.config`, :mod:`edge.hosts`, :mod:`edge.db`,
:mod:`edge.tokens`, :mod:`edge.events`.
"""
