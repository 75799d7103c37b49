"""Who made a request: a person, or a machine acting before (or instead of) one.

Every event keeps its raw fields and gets a verdict and the name of the rule that produced it;
nothing is ever dropped for being a machine. Verdicts:

``human``
    nothing says otherwise (rule ``default``).
``machine_open``
    an open fetched by Apple Mail Privacy Protection at delivery, read or not.
``proxy_open``
    a real open fetched through Gmail's or Yahoo's image cache: counted as an open, marked.
``scanner``
    a security gateway, link-preview fetcher, ``HEAD`` or prefetch request, or a click whose
    timing gives a machine away (the behaviour rules below).
``bot``
    a crawler or a scripted HTTP client.

Two kinds of rules:

- :class:`RuleSet`, static rules read from data files (``edge/events/rules/*.txt``, plus an
  optional operator directory): address ranges and user-agent patterns, each file naming its
  verdict and whether it applies to opens, clicks or both. Files are data, not code, so the
  ranges are updated by editing them.
- :class:`BehaviourRules`, timing rules over a bounded in-memory window of recent events:
  ``fast_click`` (a click within a few seconds of the first event of the same message and
  recipient, when that first event was an open: gateways fetch and click at delivery; a
  second click right after a first one is a double-click, not a scan), ``link_burst``
  (several links of one message clicked from one address within a second or two: marks the
  whole burst) and ``honeypot`` (a click on the invisible ``_honeypot`` link the rewriter
  can insert: that address's clicks on that message, before and after, are scanner clicks).

The window lives in each worker process; with several workers, events of one burst that
land on different workers are judged separately (each still sees its own share, and the
static rules do not depend on the window). A rule that relabels events already written
returns their ids so the ingester can update them (see :mod:`edge.ingest`).
"""

from __future__ import annotations

import collections
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from edge.model.events import CLICK, COUNTED_VERDICTS, HONEYPOT_LINK, Verdict, VerdictKind

#: Static verdicts in precedence order when several files match one request.
_PRECEDENCE = (
    VerdictKind.SCANNER,
    VerdictKind.BOT,
    VerdictKind.MACHINE_OPEN,
    VerdictKind.PROXY_OPEN,
)
_MISSING: Any = object()
_NONE: list[tuple[str, Verdict]] = []  # shared "no relabels" answer: callers only iterate it
#: A static rule's match: the index of its file (lower wins) and the verdict.
_Match: TypeAlias = tuple[int, Verdict]
#: The static rules' caches are keyed by (kind, client address or user agent).
_CacheKey: TypeAlias = tuple[str, str | None]
#: The behaviour windows are keyed by (account, message, recipient or client address).
_WindowKey: TypeAlias = tuple[int, str, str | None]
_V = TypeVar("_V")
_Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


class RuleFileError(ValueError):
    """A classification data file has a line that cannot be read; names file and line."""

    def __init__(self, message: str, path: str, line: int) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line


HUMAN = Verdict(VerdictKind.HUMAN, "default")
HEAD_REQUEST = Verdict(VerdictKind.SCANNER, "head_request")
PREFETCH = Verdict(VerdictKind.SCANNER, "prefetch")
HONEYPOT = Verdict(VerdictKind.SCANNER, "honeypot")
FAST_CLICK = Verdict(VerdictKind.SCANNER, "fast_click")
LINK_BURST = Verdict(VerdictKind.SCANNER, "link_burst")


@dataclass
class RuleFile:
    """One data file: a verdict, what it applies to, address ranges and user-agent patterns."""

    name: str
    verdict: str
    applies: str  # "open", "click" or "any"
    networks: list[_Network] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, name: str, text: str, path: str = "") -> RuleFile:
        path = path or name
        verdict = applies = None
        networks, patterns = [], []
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition(" ")
            value = value.strip()
            if key == "verdict":
                if value not in _PRECEDENCE:
                    raise RuleFileError(f"unknown verdict {value!r}", path, number)
                verdict = value
            elif key == "applies":
                if value not in ("open", "click", "any"):
                    raise RuleFileError("applies must be open, click or any", path, number)
                applies = value
            elif key == "ip":
                try:
                    networks.append(ipaddress.ip_network(value, strict=False))
                except ValueError:
                    raise RuleFileError(f"not an address range: {value!r}", path, number) from None
            elif key == "ua":
                try:
                    re.compile(value)
                except re.error as exc:
                    raise RuleFileError(f"bad pattern {value!r}: {exc}", path, number) from None
                patterns.append(value)
            else:
                raise RuleFileError(f"unknown directive {key!r}", path, number)
        if verdict is None:
            raise RuleFileError("no 'verdict' line", path, 0)
        return cls(name, verdict, applies or "any", networks, patterns)


_IPV4_MAPPED = b"\x00" * 10 + b"\xff\xff"


class AddressMatcher:
    """Longest-prefix lookup over many ranges: one set probe per distinct prefix length."""

    def __init__(self, entries: Iterable[tuple[_Network, str]]) -> None:
        # {version: [(prefixlen, {network int: label})]}, longest prefix first.
        tables: dict[int, dict[int, dict[int, str]]] = {4: {}, 6: {}}
        for network, label in entries:
            by_len = tables[network.version].setdefault(network.prefixlen, {})
            by_len.setdefault(int(network.network_address), label)
        self._tables = {
            version: [
                (bits, (~0 << ((32 if version == 4 else 128) - bits)), table)
                for bits, table in sorted(lens.items(), reverse=True)
            ]
            for version, lens in tables.items()
        }
        # The first byte of every listed range, when all are /8 or longer: most addresses
        # (people's) are in none of the ranges, and one set probe tells so.
        self._first_bytes: dict[int, frozenset[int] | None] = {}
        for version, lens in tables.items():
            width = 32 if version == 4 else 128
            if any(bits < 8 for bits in lens):
                self._first_bytes[version] = None
            else:
                self._first_bytes[version] = frozenset(
                    value >> (width - 8) for table in lens.values() for value in table
                )

    def match(self, address: str | None) -> str | None:
        if not address:
            return None
        # inet_pton, not ipaddress.ip_address: a tenth of the cost, and most addresses an
        # ingester sees are new to the cache.
        try:
            if ":" in address:
                packed = socket.inet_pton(socket.AF_INET6, address.partition("%")[0])
                version = 6
                if packed[:12] == _IPV4_MAPPED:  # ::ffff:192.0.2.1 is 192.0.2.1
                    packed, version = packed[12:], 4
            else:
                packed, version = socket.inet_pton(socket.AF_INET, address), 4
        except (OSError, ValueError):
            return None
        first = self._first_bytes[version]
        if first is not None and packed[0] not in first:
            return None
        value = int.from_bytes(packed, "big")
        for _bits, mask, table in self._tables[version]:
            label = table.get(value & mask)
            if label is not None:
                return label
        return None


class RuleSet:
    """The static rules: request method, prefetch flag, address ranges, user agents."""

    def __init__(self, files: Iterable[RuleFile]) -> None:
        self.files = sorted(files, key=lambda f: (_PRECEDENCE.index(f.verdict), f.name))
        self._by_kind: dict[str, tuple[AddressMatcher, re.Pattern[str] | None, list[RuleFile]]] = {}
        for kind in ("open", "click"):
            chosen = [f for f in self.files if f.applies in (kind, "any")]
            matcher = AddressMatcher(
                (net, f"{i}") for i, f in enumerate(chosen) for net in f.networks
            )
            alternatives = [
                f"(?P<r{i}_{j}>{pattern})"
                for i, f in enumerate(chosen)
                for j, pattern in enumerate(f.patterns)
            ]
            regex = re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None
            self._by_kind[kind] = (matcher, regex, chosen)
        self._ip_cache: dict[_CacheKey, _Match | None] = {}
        self._ua_cache: dict[_CacheKey, _Match | None] = {}

    @classmethod
    def load(cls, extra_dir: Path | None = None) -> RuleSet:
        """The files shipped in ``edge/events/rules``, then ``*.txt`` in ``extra_dir``."""
        files = []
        shipped = resources.files("edge.events") / "rules"
        for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".txt"):
                files.append(RuleFile.parse(entry.name[:-4], entry.read_text(), entry.name))
        if extra_dir is not None:
            for path in sorted(Path(extra_dir).glob("*.txt")):
                files.append(RuleFile.parse(path.stem, path.read_text(), str(path)))
        return cls(files)

    def classify(
        self,
        type: str,
        client_ip: str | None,
        user_agent: str | None,
        method: str = "GET",
        prefetch: bool = False,
        link: str | None = None,
    ) -> Verdict:
        """The verdict of the static rules for one request (``HUMAN`` when none matches)."""
        is_click = type == CLICK
        if is_click and link == HONEYPOT_LINK:
            return HONEYPOT
        if method == "HEAD":
            return HEAD_REQUEST
        if prefetch:
            return PREFETCH
        kind = "click" if is_click else "open"
        by_ip: _Match | None = self._ip_cache.get((kind, client_ip), _MISSING)
        if by_ip is _MISSING:
            by_ip = self._lookup(self._ip_cache, (kind, client_ip), self._match_ip)
        by_ua: _Match | None = self._ua_cache.get((kind, user_agent), _MISSING)
        if by_ua is _MISSING:
            by_ua = self._lookup(self._ua_cache, (kind, user_agent), self._match_ua)
        if by_ip is None or (by_ua is not None and by_ua[0] < by_ip[0]):
            return by_ua[1] if by_ua is not None else HUMAN
        return by_ip[1]

    # Addresses and user agents repeat a great deal (a few thousand agents make up nearly
    # all traffic), and a user-agent search over every pattern costs far more than a dict
    # probe: both lookups are cached, the caches cleared when they reach ``cache_size``.
    cache_size = 50_000

    def _lookup(
        self,
        cache: dict[_CacheKey, _Match | None],
        key: _CacheKey,
        find: Callable[[str, str | None], _Match | None],
    ) -> _Match | None:
        if len(cache) >= self.cache_size:
            cache.clear()
        found = cache[key] = find(*key)
        return found

    def _match_ip(self, kind: str, client_ip: str | None) -> _Match | None:
        matcher, _regex, chosen = self._by_kind[kind]
        label = matcher.match(client_ip)
        if label is None:
            return None
        f = chosen[int(label)]
        return int(label), Verdict(f.verdict, f"{f.name}_ip")

    def _match_ua(self, kind: str, user_agent: str | None) -> _Match | None:
        _matcher, regex, chosen = self._by_kind[kind]
        best: _Match | None = None
        if regex is not None and user_agent:
            for m in regex.finditer(user_agent):
                index = int(m.lastgroup[1:].split("_")[0])  # type: ignore[index]
                if best is None or index < best[0]:
                    f = chosen[index]
                    best = (index, Verdict(f.verdict, f"{f.name}_ua"))
        return best


@dataclass(slots=True)
class _Click:
    id: str
    ts_ms: int
    recipient: str | None
    link: str
    relabelled: bool = False


class BehaviourRules:
    """Timing rules over a bounded window of recent events (one per worker process).

    :meth:`observe` is called for every event in commit order. It returns the verdict for the
    event (unchanged unless a rule fires) and the ids of *earlier* events that must now be
    relabelled scanner, with the rule.
    """

    #: A click this soon after the first event of its message and recipient is a gateway's.
    fast_click_ms = 2000
    #: Two different links of one message clicked from one address this close: a scanner.
    burst_ms = 2000
    burst_links = 2
    #: How long a tripped honeypot marks an address's clicks on a message, both ways.
    honeypot_ms = 24 * 3600 * 1000
    #: Most keys each window keeps (the oldest are forgotten first), and clicks per key.
    max_keys = 200_000
    max_clicks_per_key = 64

    def __init__(self, **overrides: int) -> None:
        for name, value in overrides.items():
            if not hasattr(type(self), name):
                raise TypeError(f"unknown setting {name!r}")
            setattr(self, name, value)
        # (account, message, recipient) -> (time, type) of the first event seen.
        self._first: collections.OrderedDict[_WindowKey, tuple[int, str]] = (
            collections.OrderedDict()
        )
        # (account, message, client address) -> recent clicks, and -> honeypot time.
        self._clicks: collections.OrderedDict[_WindowKey, collections.deque[_Click]] = (
            collections.OrderedDict()
        )
        self._honeypots: collections.OrderedDict[_WindowKey, int] = collections.OrderedDict()

    def observe(
        self,
        id: str,
        type: str,
        ts_ms: int,
        account_id: int,
        message: str | None,
        recipient: str | None,
        link: str | None,
        url: str | None,
        client_ip: str | None,
        verdict: Verdict,
    ) -> tuple[Verdict, list[tuple[str, Verdict]]]:
        if message is None:
            return verdict, _NONE
        first_key = (account_id, message, recipient)
        first = self._first.get(first_key)
        if first is None:  # a new key goes in at the end already: no move_to_end needed
            self._first[first_key] = (ts_ms, type)
            if len(self._first) > self.max_keys:
                self._first.popitem(last=False)
        if type != CLICK:
            return verdict, _NONE
        relabel: list[tuple[str, Verdict]] = []
        key = (account_id, message, client_ip)
        recent = self._clicks.get(key)
        if recent is None:
            recent = collections.deque(maxlen=self.max_clicks_per_key)
        while recent and ts_ms - recent[0].ts_ms > self.honeypot_ms:
            recent.popleft()
        this = _Click(id, ts_ms, recipient, link or url or "")
        if verdict is HONEYPOT:  # the static rules return this very object
            _remember(self._honeypots, key, ts_ms, self.max_keys)
            # The address's earlier clicks on this message were the scanner's too.
            relabel = _relabel((c for c in recent if c.id != id), HONEYPOT)
            this.relabelled = True
        elif verdict.verdict in COUNTED_VERDICTS:
            tripped = self._honeypots.get(key)
            if tripped is not None and ts_ms - tripped <= self.honeypot_ms:
                verdict = HONEYPOT
            else:
                burst = []
                for c in reversed(recent):  # newest first: stop at the window's edge
                    if ts_ms - c.ts_ms > self.burst_ms:
                        break
                    # abs(): events of several workers reach the ingester slightly out of
                    # order; a replayed event (same id) is not a burst with itself.
                    close = abs(ts_ms - c.ts_ms) <= self.burst_ms
                    if close and c.recipient == recipient and c.id != id:
                        burst.append(c)
                if burst and len({c.link for c in burst} | {this.link}) >= self.burst_links:
                    verdict = LINK_BURST
                    relabel = _relabel(burst, LINK_BURST)
                elif (
                    first is not None
                    and first[1] != CLICK  # a double-click is not a delivery-time scan
                    and 0 <= ts_ms - first[0] <= self.fast_click_ms
                ):
                    verdict = FAST_CLICK
            this.relabelled = verdict.verdict not in COUNTED_VERDICTS
        else:
            this.relabelled = True  # already a machine: never relabelled
        recent.append(this)
        _remember(self._clicks, key, recent, self.max_keys)
        return verdict, relabel


def _relabel(clicks: Iterable[_Click], verdict: Verdict) -> list[tuple[str, Verdict]]:
    found = []
    for c in clicks:
        if not c.relabelled:
            c.relabelled = True
            found.append((c.id, verdict))
    return found


def _remember(
    window: collections.OrderedDict[_WindowKey, _V], key: _WindowKey, value: _V, limit: int
) -> None:
    window[key] = value
    window.move_to_end(key)
    while len(window) > limit:
        window.popitem(last=False)
