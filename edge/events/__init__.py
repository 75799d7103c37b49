"""Events on their way from a request to the store, exactly once.

``recorder`` (in the serving process: events into the spool), ``spool`` (append-only
segments), ``ingester`` and ``ingester_process`` (spool to store, one per data directory),
``prepare`` (classification and privacy: events to rows), ``classify`` and its data files in
``rules/``, ``rollup`` (unique keys, hourly and daily roll-ups, the webhook queue).

May import: :mod:`edge.model`, :mod:`edge.config`, :mod:`edge.db`.
"""
