"""Tracking edge: everything a node needs to serve branded click redirects and open pixels.

Packages, each a capability, and what each may import (``lint-imports`` holds the code to
this table, with the contracts in pyproject.toml; ``edge`` never imports ``admin``)::

    edge.model     the vocabulary: events, verdicts, domain states,      nothing of ours
                   certificates, privacy switches
    edge.config    settings from the environment (a module)               edge.hosts
    edge.hosts     the one host-name (IDNA) rule (a module)               nothing of ours
    edge.periodic  the one helper for background jobs (a module)          edge.db.store
    edge.db        the data layer: connections, migrations,               model, config
                   repositories; the only SQL
    edge.tokens    signing, token formats, link building                  model, hosts
    edge.events    recorder, spool, ingester, classification, roll-up     model, config, db
    edge.rewrite   HTML and text rewriting                                model, hosts, tokens
    edge.serving   hosts, the tracking app, the HTTP protocol and         everything above
                   listeners (the only code that touches uvicorn)
"""

__version__ = "0.1.0"
