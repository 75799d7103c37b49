"""The shared engine: PostgreSQL for a cluster of nodes (``store``, ``migrate`` and the scripts
in ``migrations/``), and what it does its own way: events by COPY into daily partitions, roll-ups
per node and batch, webhook leases that skip rows another node holds."""
