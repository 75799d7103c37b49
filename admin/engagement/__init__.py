"""Engagement: what the recorded events say, and where they go.

``stats`` (roll-up queries), ``events_api`` (lists and exports), ``api`` (stats, privacy
switches, message labels, webhook endpoints), ``webhooks`` (endpoints and delivery),
``retention``, ``service`` (the per-worker parts).

May import: :mod:`edge`, :mod:`admin.api`, :mod:`admin.accounts`, :mod:`admin.outbound`.
"""
