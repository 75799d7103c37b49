"""The data layer: the one place that opens database connections and holds SQL.

Connections per role (serving, ingester, admin) with their settings, the schema and its
migrations, and repositories per table group that speak in :mod:`edge.model` types.

May import: :mod:`edge.model`, :mod:`edge.config`.
"""
