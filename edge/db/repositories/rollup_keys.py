"""What a roll-up pass counts, declared once for every engine's roll-up.

A unique open (click) is counted once per message and recipient reference, at the time of
the first counted event of that key: the roll-ups of any range add up to the number of
recipients who opened (clicked) for the first time in it. Scope 0 keys count people only
(the counted verdicts); scope 1 keys count every verdict (for ``include_machine``). Each
event records in ``events.firsts`` which keys it opened (the ``FIRST_*`` bits), so that a
relabelled event can hand its keys over to the next one.
"""

from __future__ import annotations

from edge.db.repositories.stats import COUNTED_SQL, DAY_MS, HOUR_MS

# Bits of events.firsts: which unique keys an event opened (scope 0 "counted" / 1 "any").
FIRST_OPEN, FIRST_OPEN_ANY = 1, 2
FIRST_CLICK, FIRST_CLICK_ANY = 4, 8
FIRST_LINK, FIRST_LINK_ANY = 16, 32
COUNTED_BITS = FIRST_OPEN | FIRST_CLICK | FIRST_LINK
#: The bits each roll-up column sums: (column, bits an event needs one of).
UNIQUE_COLUMNS = (
    ("uniq_counted", FIRST_OPEN | FIRST_CLICK),
    ("uniq_any", FIRST_OPEN_ANY | FIRST_CLICK_ANY),
    ("link_uniq_counted", FIRST_LINK),
    ("link_uniq_any", FIRST_LINK_ANY),
)

ROLLUP_TABLES = (("rollups_hourly", HOUR_MS), ("rollups_daily", DAY_MS))
ROLLUP_KEY = "account_id, domain, bucket, message, link, type, verdict"
ROLLUP_COLUMNS = f"{ROLLUP_KEY}, events, " + ", ".join(c for c, _ in UNIQUE_COLUMNS)

#: The unique keys: (kind, scope, bit, which events, link part of the key).
FIRST_KEYS = (
    ("open", 0, FIRST_OPEN, f"type != 'click' AND verdict IN {COUNTED_SQL}", "''"),
    ("open", 1, FIRST_OPEN_ANY, "type != 'click'", "''"),
    ("click", 0, FIRST_CLICK, f"type = 'click' AND verdict IN {COUNTED_SQL}", "''"),
    ("click", 1, FIRST_CLICK_ANY, "type = 'click'", "''"),
    ("link", 0, FIRST_LINK, f"type = 'click' AND verdict IN {COUNTED_SQL}", "coalesce(link, '')"),
    ("link", 1, FIRST_LINK_ANY, "type = 'click'", "coalesce(link, '')"),
)


def unique_bits(bits: int, sign: int = 1) -> tuple[int, int, int, int]:
    """What one event with ``bits`` adds (``sign`` 1) to or takes (-1) from the unique
    columns, in :data:`UNIQUE_COLUMNS` order."""
    a, b, c, d = (sign * bool(bits & mask) for _, mask in UNIQUE_COLUMNS)
    return a, b, c, d
