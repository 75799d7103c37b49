"""The embedded engine: SQLite in the data directory (``store``, ``migrate`` and the scripts
in ``migrations/``), and what cannot be written portably on it (``events``, ``rollups``)."""
