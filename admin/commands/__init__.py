"""Subcommands of ``tracking-edge``, one module per area."""
