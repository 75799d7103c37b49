"""``tracking-edge``: the command line (``main``), one module per group of subcommands.

May import: everything.
"""
