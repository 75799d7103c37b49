"""``python -m admin.cli``: the same as the ``tracking-edge`` command."""

from __future__ import annotations

import sys

from admin.cli.main import main

sys.exit(main())
