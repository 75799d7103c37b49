"""The link rewriter: an outgoing email in, the same email with tracked links and pixels out.

Only three kinds of change are ever made, everything else is returned byte for byte:

- the value of a wrapped ``href`` is replaced by a click URL (``/e/<token>``) on the tracking
  domain; the quoting around it stays (a click URL holds no character that needs quoting);
- an open pixel (``/o/<token>``) is inserted just before ``</body>`` (appended when there is
  none) and, on request, an "initial open" pixel right after ``<body>``, as SparkPost does,
  so that a message clipped by Gmail at 102 KB still counts its opens;
- on request, one invisible "honeypot" link is inserted before ``</body>``.

Which links are wrapped, and why the others are not, is decided by :meth:`Rewriter.classify`
and reported for each link as a :class:`LinkReport`; :class:`SkipReason` lists the reasons.
Rewriting is idempotent: links and pixels this edge already made are recognised (their host
is a tracking host and their token verifies) and left alone.

The markup is found by :mod:`edge.rewrite.htmlscan`, the text part's URLs by
:mod:`edge.rewrite.textlinks`; tokens are made by :class:`edge.tokens.links.LinkBuilder`, the
one place for tracking URLs.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from itertools import islice
from operator import itemgetter
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from edge.hosts import normalise_host
from edge.model.domains import TrackingHost
from edge.model.events import HONEYPOT_LINK
from edge.rewrite.htmlscan import (
    USUAL_NAME,
    Attribute,
    LinkTag,
    decode_attribute,
    describe_open,
    scan,
    usual_href,
)
from edge.rewrite.textlinks import find_urls
from edge.tokens.codec import BadToken, ClickToken, safe_url
from edge.tokens.links import LinkBuilder

#: Every :attr:`RewriteWarning.code`.
WARNING_CODES = (
    "html_clipped",
    "placeholder",
    "unparseable_link",
    "unterminated_tag",
    "reserved_link_name",
    "html_truncated",
)


class TooManyLinks(ValueError):
    """A part holds more links than :attr:`Rewriter.max_links`; nothing was rewritten.

    Every link costs a signed token and a report entry, so the cap bounds what one request
    can make the process hold.
    """

    def __init__(self, part: str, limit: int) -> None:
        super().__init__(f"the {part} part holds more than {limit} links")
        self.part = part
        self.limit = limit


class SkipReason(StrEnum):
    """Why a link was left as it is."""

    OPTED_OUT = "opted_out"  # data-track="false" and the other platforms' attributes
    EMPTY = "empty"
    PLACEHOLDER = "placeholder"  # filled in by the sending system after us
    FRAGMENT = "fragment"  # "#top"
    MAILTO = "mailto"
    TEL = "tel"
    SMS = "sms"
    JAVASCRIPT = "javascript"
    DATA = "data"
    UNSUPPORTED_SCHEME = "unsupported_scheme"  # ftp:, cid:, ...
    RELATIVE = "relative"  # no scheme: "/a", "a.html", "//host/a"
    ALREADY_WRAPPED = "already_wrapped"  # made by this edge: wrapping twice equals once
    UNPARSEABLE = "unparseable"  # http(s) but no host, control characters, bad IPv6...
    CLICK_TRACKING_OFF = "click_tracking_off"  # track_clicks=False


_SCHEME_REASONS = {
    "mailto": SkipReason.MAILTO,
    "tel": SkipReason.TEL,
    "sms": SkipReason.SMS,
    "javascript": SkipReason.JAVASCRIPT,
    "data": SkipReason.DATA,
}


@dataclass(slots=True)  # not frozen: made for every link, and frozen init costs 4x
class LinkReport:
    """One link found in the email, wrapped or not."""

    #: ``"html"`` or ``"text"``.
    part: str
    #: The name recorded with its clicks: ``data-msys-linkname``/``data-link-name``, else its
    #: position (``link-3`` in the HTML, ``text-3`` in the text part).
    name: str
    #: The URL a browser would open (entities decoded, white space trimmed); for a link
    #: already wrapped, the URL its token leads to.
    url: str
    wrapped: bool
    reason: SkipReason | None = None
    #: Marked ``data-msys-unsubscribe="1"``.
    unsubscribe: bool = False
    #: The click URL now in the email (``None`` when skipped).
    tracking_url: str | None = None
    #: The tag (``a``, ``area``, ``v:roundrect``; ``None`` in the text part).
    tag: str | None = None
    #: The value exactly as it was in the input, and where it starts there.
    raw: str = ""
    offset: int = 0


@dataclass(frozen=True, slots=True)
class RewriteWarning:
    """Something the sender should know; the email was still rewritten."""

    #: One of :data:`WARNING_CODES`.
    code: str
    message: str
    part: str
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class Insertion:
    """Markup added to the HTML part: a pixel or the honeypot link."""

    #: ``open``, ``initial_open`` or ``honeypot``.
    kind: str
    #: Where it was inserted, as an offset into the *input*.
    offset: int
    markup: str


@dataclass(frozen=True, slots=True)
class RewriteResult:
    html: str | None
    text: str | None
    links: list[LinkReport] = field(default_factory=list)
    warnings: list[RewriteWarning] = field(default_factory=list)
    insertions: list[Insertion] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the HTTP API and the CLI."""
        return {
            "html": self.html,
            "text": self.text,
            "links": [asdict(link) for link in self.links],
            "warnings": [asdict(w) for w in self.warnings],
        }


@dataclass(slots=True)
class _Job:
    """The per-message options and what one rewrite has collected so far."""

    message: str | None
    recipient: str | None
    track_clicks: bool
    #: ``LinkBuilder.click_urls`` for this message: ``click_url(url, link_name)``.
    click_url: Callable[[str, str | None], str]
    links: list[LinkReport] = field(default_factory=list)
    warnings: list[RewriteWarning] = field(default_factory=list)
    placeholders: int = 0
    honeypot_present: bool = False
    #: The HTML's base URL (``<base href>``) when it is an http(s) URL, else ``None``.
    base: str | None = None


# Template syntaxes whose placeholders the sending system fills after us: Handlebars/Jinja
# ``{{…}}``, ``{%…%}``, Mailchimp ``*|…|*``, Salesforce ``%%…%%``, ``[[…]]``, ``${…}``. An
# opening is enough: a URL in the text part ends at the first space inside ``{{ x }}``.
# Editors percent-encode them in hrefs (``?u=%7B%7Bid%7D%7D``), in any case, so each
# character also matches its escape. A "%" counts only as ``%25`` or when no escape follows
# it: ``%7B%22`` is ``{"`` (JSON in a query), not ``{%``. The alternatives are grouped by
# their first character, so that the engine's search skips to the next "{%*[$" at once
# instead of trying each position (a mailto link: a quarter of the time of the same
# alternatives ungrouped behind a lookahead).
_LB, _PCT = r"(?:\{|%7B)", r"(?:%25|%(?![0-9A-F]{2}))"
_PLACEHOLDER = re.compile(
    rf"\{{(?:{_LB}|{_PCT})"  # {{ {%
    rf"|%(?:7B(?:{_LB}|{_PCT})|2A(?:\||%7C)|%|25{_PCT}|5B(?:\[|%5B)|24{_LB})"  # the escapes, %%
    rf"|\*(?:\||%7C)"  # *|
    rf"|\[(?:\[|%5B)"  # [[
    rf"|\${_LB}",  # ${
    re.IGNORECASE,
)
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
# The URL parser drops leading and trailing C0 controls and spaces, and every tab and newline
# (WHATWG URL "basic URL parser"), so a link split over two lines still works in a browser.
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
# The usual link, settled by one match: http(s), a plain ASCII host (no userinfo, no IPv6),
# and none of the characters any other rule looks at (white space and controls, template
# openings "{%*[$", backslashes, quotes). See _plain().
_PLAIN_URL = re.compile(
    r"[hH][tT][tT][pP][sS]?://[A-Za-z0-9.\-]+(?::[0-9]*)?(?:[/?#][!#&-)+-Z\]^_a-z|~]*)?"
)
_TRACKING_URL = re.compile(r"""//([^/\\@\s"'<>]+)/([eo])/([A-Za-z0-9_.\-]+)""")
# A click URL of this edge exactly as it makes them: no userinfo, no "\" (a browser reads
# "https://evil.example\@t.brand.example/" as a path on evil.example, WHATWG URL §4.4),
# "/e/<token>" and nothing after it.
_CLICK_URL = re.compile(r"(?i:(https?))://([^/\\?#@]+)/e/([A-Za-z0-9_.\-]+)")
# A leading byte order mark is not content: nothing may go before it or the doctype.
_DOCTYPE = re.compile(r"\ufeff?\s*<!doctype[^>]*>", re.IGNORECASE)
_OFF = frozenset({"0", "false", "off", "no"})
_OPT_OUT = ("data-track", "data-msys-clicktrack", "clicktracking")
_OPT_OUT_ATTRIBUTES = frozenset({*_OPT_OUT, "data-pm-no-track"})  # attributes that may opt out
_NAMES = ("data-msys-linkname", "data-link-name")  # in order of precedence
_LINK_ATTRIBUTES = frozenset({"href", "data-msys-unsubscribe", *_NAMES, *_OPT_OUT_ATTRIBUTES})


class _Listed(Protocol):
    @property
    def domain(self) -> str: ...
    @property
    def served(self) -> bool: ...


def served_hosts(entries: Iterable[_Listed]) -> frozenset[str]:
    """The hosts whose click URLs count as already wrapped: those the edge serves.

    ``entries`` are the domain table's :class:`~edge.serving.domains.TrackingHost` entries or the
    store's records. A link on an unverified or blocked domain does not redirect, so it is
    wrapped like any other link rather than left dead.
    """
    return frozenset(entry.domain for entry in entries if entry.served)


def is_unicode_text(value: str) -> bool:
    """Whether ``value`` is Unicode text: no lone surrogates, which JSON ``"\\ud800"``
    escapes and undecodable bytes read with ``surrogateescape`` produce, and which cannot be
    encoded (so neither signed into a token nor sent back)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Rewriter:
    """Rewrites emails for one tracking host and account.

    ``tracking_hosts`` names the other hosts whose links count as already wrapped (the
    edge's default domain, the account's other domains); ``host`` always does.
    """

    #: Gmail clips an HTML part larger than this and hides the rest, pixel included.
    clip_size = 102 * 1024
    #: Longest link name kept (SparkPost's limit); longer names are cut.
    max_name_length = 63
    #: Most links in one part; more raise :class:`TooManyLinks` (``None``: no limit). A large
    #: newsletter has a few hundred; each link costs up to ~1.5 KB of answer with 256-character
    #: message and recipient references, so this bounds one answer to a few megabytes.
    max_links: int | None = 2_000
    #: Where the honeypot link leads: the tracking host's own robots.txt, which the edge
    #: serves itself. A scanner following it reaches nothing but this edge, and no customer
    #: site or third party receives a request it did not expect.
    honeypot_path = "/robots.txt"
    #: 1 by 1, transparent, ``alt=""``, hidden from screen readers, taking no space: zero max
    #: size where CSS is honoured, 1 px in Outlook. Images hidden by CSS are still fetched.
    pixel_markup = (
        '<img src="{url}" width="1" height="1" alt="" border="0" aria-hidden="true" '
        'style="display:block;width:1px;height:1px;max-width:0;max-height:0;overflow:hidden;'
        'border:0;margin:0;padding:0;opacity:0" />'
    )
    #: Invisible, unfocusable, empty and hidden from assistive technology (``mso-hide`` for
    #: Outlook, which ignores ``display:none``): only a machine reading the markup follows it.
    honeypot_markup = (
        '<a href="{url}" aria-hidden="true" tabindex="-1" style="display:none!important;'
        'mso-hide:all;font-size:0;line-height:0;max-height:0;overflow:hidden;opacity:0"></a>'
    )

    def __init__(
        self,
        links: LinkBuilder,
        host: TrackingHost,
        account_id: int,
        *,
        tracking_hosts: Iterable[str] = (),
    ) -> None:
        self.links = links
        self.codec = links.codec
        self.host = host
        self.account_id = account_id
        self.tracking_hosts = frozenset(tracking_hosts) | {host.domain}

    def rewrite(
        self,
        html: str | None = None,
        text: str | None = None,
        *,
        message: str | None = None,
        recipient: str | None = None,
        track_clicks: bool = True,
        track_opens: bool = True,
        initial_open: bool = False,
        honeypot: bool = False,
    ) -> RewriteResult:
        """Rewrite the HTML and/or text part of one email.

        ``message`` and ``recipient`` go into every token (an address-like recipient is
        hashed by the codec). ``track_clicks``/``track_opens`` off leave links or pixels
        out; ``initial_open`` adds the pixel after ``<body>``; ``honeypot`` adds the
        scanner-detecting link (only when clicks are tracked).
        """
        # Every URL signed here is one safe_url() returns unchanged: _plain() or safe_url()'s
        # own output (_wrap_other), so it is not checked again.
        click_url = self.links.click_urls(
            self.host, self.account_id, message=message, recipient=recipient, checked=True
        )
        job = _Job(message, recipient, track_clicks, click_url)
        insertions: list[Insertion] = []
        new_html = new_text = None
        if html is not None:
            new_html = self._rewrite_html(
                html, job, insertions, track_opens, initial_open, honeypot and track_clicks
            )
            if len(new_html) * 4 > self.clip_size:
                size = _utf8_size(new_html)
                if size > self.clip_size:
                    job.warnings.append(
                        RewriteWarning(
                            "html_clipped",
                            f"the HTML is {size} bytes after rewriting: Gmail clips messages "
                            f"over 102 KB, so the open pixel at the end will not load there",
                            "html",
                        )
                    )
            self._placeholder_warning(job, "html")
        if text is not None:
            new_text = self._rewrite_text(text, job)
            self._placeholder_warning(job, "text")
        return RewriteResult(new_html, new_text, job.links, job.warnings, insertions)

    # -- links -------------------------------------------------------------------------

    def classify(
        self, url: str, base: str | None = None
    ) -> tuple[SkipReason | None, str, ClickToken | None]:
        """Why ``url`` (decoded, as a browser reads it) is not wrapped, or ``None``.

        Returns ``(reason, cleaned_url, token)``: ``token`` is the click token when the URL
        is already one of this edge's click URLs. With ``base`` (an http(s) URL, the
        document's ``<base href>``), a relative URL is resolved against it first, as the
        mail clients that honour ``<base>`` do; ``cleaned_url`` is then the resolved URL.
        """
        if _plain(url):
            return None, url, None
        return self._classify(url, base)

    def _classify(
        self, url: str, base: str | None = None
    ) -> tuple[SkipReason | None, str, ClickToken | None]:
        """:meth:`classify` for any URL, by every rule in turn."""
        url = url.strip(_C0_AND_SPACE)
        if "\t" in url or "\n" in url or "\r" in url:
            url = _TAB_NEWLINE.sub("", url)
        if not url:
            return SkipReason.EMPTY, url, None
        if _PLACEHOLDER.search(url):
            return SkipReason.PLACEHOLDER, url, None
        if url[0] == "#":
            return SkipReason.FRAGMENT, url, None
        m = _SCHEME.match(url)
        if m is None:
            if base is None:
                return SkipReason.RELATIVE, url, None
            url = resolve(base, url)
            m = _SCHEME.match(url)
            if m is None:  # cannot happen with an http(s) base; kept as the browser would
                return SkipReason.RELATIVE, url, None
        scheme = m.group(1).lower()
        if scheme != "http" and scheme != "https":
            return _SCHEME_REASONS.get(scheme, SkipReason.UNSUPPORTED_SCHEME), url, None
        token = self._own_click(url)
        if token is not None:
            return SkipReason.ALREADY_WRAPPED, url, token
        return None, url, None

    def _own_click(self, url: str) -> ClickToken | None:
        """The token of ``url`` if it is a click URL of this edge, else ``None``.

        Only the exact shape :class:`LinkBuilder` makes counts: a look-alike that a browser
        would open elsewhere must be wrapped, or it would be reported as ours and not tracked.
        """
        if "/e/" not in url:
            return None
        m = _CLICK_URL.fullmatch(url)
        if m is None:
            return None
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:  # a broken IPv6 literal or port
            return None
        if normalise_host(parts.hostname) not in self.tracking_hosts:
            return None
        if m.group(1).lower() == "https":
            expected = (443, self.links.https_port)
        else:
            expected = (80, self.links.http_port)
        if port is not None and port not in expected:
            return None
        try:
            return self.codec.read_click(m.group(3))
        except BadToken:
            return None

    def _wrap(
        self,
        part: str,
        url: str,
        name: str,
        job: _Job,
        unsubscribe: bool,
        tag: str | None,
        raw: str,
        offset: int,
    ) -> tuple[LinkReport, str | None]:
        """Classify, and sign when it is to be wrapped: the report and the new value."""
        if job.track_clicks and _plain(url):
            tracked = job.click_url(url, name)
            return LinkReport(
                part, name, url, True, None, unsubscribe, tracked, tag, raw, offset
            ), tracked
        return self._wrap_other(part, url, name, job, unsubscribe, tag, raw, offset)

    def _wrap_other(
        self,
        part: str,
        url: str,
        name: str,
        job: _Job,
        unsubscribe: bool,
        tag: str | None,
        raw: str,
        offset: int,
    ) -> tuple[LinkReport, str | None]:
        """:meth:`_wrap` for a URL that is not :func:`_plain` (or clicks are not tracked)."""
        reason, url, token = self._classify(url, job.base)
        if token is not None:
            if token.link == HONEYPOT_LINK:
                job.honeypot_present = True
            name = token.link or name
            url = token.url
        elif reason is None and not job.track_clicks:
            reason = SkipReason.CLICK_TRACKING_OFF
        elif reason is SkipReason.PLACEHOLDER:
            job.placeholders += 1
        tracked = None
        if reason is None:
            try:
                # Reported exactly as signed: the token holds safe_url()'s form of the URL.
                url = safe_url(url)
                tracked = job.click_url(url, name)
            except ValueError as exc:  # UnsafeURL, or urlsplit on a broken IPv6 literal
                reason = SkipReason.UNPARSEABLE
                job.warnings.append(
                    RewriteWarning(
                        "unparseable_link",
                        f"{name}: not tracked, the URL cannot be parsed ({exc}): {url!r}",
                        part,
                        offset,
                    )
                )
        report = LinkReport(
            part, name, url, tracked is not None, reason, unsubscribe, tracked, tag, raw, offset
        )
        return report, tracked

    def _placeholder_warning(self, job: _Job, part: str) -> None:
        if job.placeholders:
            count = job.placeholders
            what = "1 link holds" if count == 1 else f"{count} links hold"
            job.warnings.append(
                RewriteWarning(
                    "placeholder",
                    f"{what} template placeholders in the {part} part and "
                    f"{'was' if count == 1 else 'were'} not tracked: the sending system "
                    f"fills them in after rewriting, so they cannot be signed now",
                    part,
                )
            )
            job.placeholders = 0

    # -- HTML --------------------------------------------------------------------------

    def _rewrite_html(
        self,
        document: str,
        job: _Job,
        insertions: list[Insertion],
        track_opens: bool,
        initial_open: bool,
        honeypot: bool,
    ) -> str:
        limit = self.max_links
        scanned = scan(document, _LINK_ATTRIBUTES, max_links=limit)
        if scanned.over_limit and limit is not None:  # the scan stops only at a limit
            raise TooManyLinks("html", limit)
        job.base = base_url(scanned.base_href)
        edits: list[tuple[int, int, str]] = []
        position = 0
        click_url, reports = job.click_url, job.links
        track_clicks = job.track_clicks
        for tag in scanned.tags:
            if isinstance(tag, LinkTag):
                href = tag.attributes.get("href")
                if href is None:
                    continue
                position += 1
                at, stop = href.start, href.end
                report, new = self._html_link(tag, href, position, job)
            else:
                # The usual link: only an href with a value, nothing else to look at.
                position += 1
                at, stop = usual_href(tag)
                raw = document[at:stop]
                url = decode_attribute(raw) if "&" in raw else raw
                name = f"link-{position}"
                tag_name = tag.group(USUAL_NAME)
                if tag_name != "a":
                    tag_name = tag_name.lower()
                # As _wrap() does, written out.
                if track_clicks and _PLAIN_URL.fullmatch(url) is not None and "/e/" not in url:
                    wrapped = click_url(url, name)
                    reports.append(
                        LinkReport("html", name, url, True, None, False, wrapped, tag_name, raw, at)
                    )
                    edits.append((at, stop, wrapped))
                    continue
                report, new = self._wrap_other("html", url, name, job, False, tag_name, raw, at)
            reports.append(report)
            if new is not None:
                edits.append((at, stop, new))
        for offset in scanned.unterminated:
            job.warnings.append(
                RewriteWarning(
                    "unterminated_tag",
                    "a link tag is not closed before the end of the HTML; browsers ignore it, "
                    "so it was left as it is",
                    "html",
                    offset,
                )
            )
        job.base = None  # the text part has no base
        if scanned.open_end is not None:
            job.warnings.append(
                RewriteWarning(
                    "html_truncated",
                    f"the HTML ends inside {describe_open(document, scanned.open_end)}, so it "
                    f"looks cut short; what follows is hidden from some or all mail clients, "
                    f"so nothing was inserted after its start",
                    "html",
                    scanned.open_end,
                )
            )

        opens = self._open_kinds_present(document) if track_opens else set()
        top: list[Insertion] = []
        bottom: list[Insertion] = []
        end = scanned.body_end
        if end is None:
            # Appended; but before a construct left open at the end, which would swallow it.
            end = len(document) if scanned.open_end is None else scanned.open_end
        if honeypot and not job.honeypot_present and not self._honeypot_present(document):
            bottom.append(self._honeypot(end, job))
        if track_opens and initial_open and "initial_open" not in opens:
            start = scanned.body_start
            if start is None:
                start = scanned.head_end or scanned.html_start or _doctype_end(document)
            top.append(self._pixel("initial_open", start, job))
        if track_opens and "open" not in opens:
            bottom.append(self._pixel("open", end, job))
        insertions.extend(top + bottom)
        for ins in top + bottom:
            edits.append((ins.offset, ins.offset, ins.markup))
        if not edits:
            return document
        edits.sort(key=itemgetter(0))  # stable: insertions at one offset keep their order
        pieces: list[str] = []
        pos = 0
        for start, stop, new in edits:
            pieces.append(document[pos:start])
            pieces.append(new)
            pos = stop
        pieces.append(document[pos:])
        return "".join(pieces)

    def _html_link(
        self, tag: LinkTag, href: Attribute, position: int, job: _Job
    ) -> tuple[LinkReport, str | None]:
        attrs = tag.attributes
        raw = href.value or ""
        url = decode_attribute(raw)
        name = self._link_name(attrs, position, job, href.start)
        unsubscribe = "data-msys-unsubscribe" in attrs and (
            (_value(attrs, "data-msys-unsubscribe") or "").strip() == "1"
        )
        if _opted_out(attrs):
            url = url.strip(_C0_AND_SPACE)
            return LinkReport(
                "html",
                name,
                url,
                False,
                SkipReason.OPTED_OUT,
                unsubscribe,
                None,
                tag.name,
                raw,
                href.start,
            ), None
        return self._wrap("html", url, name, job, unsubscribe, tag.name, raw, href.start)

    def _link_name(self, attrs: dict[str, Attribute], position: int, job: _Job, offset: int) -> str:
        for attr in _NAMES:
            if attr not in attrs:
                continue
            given = (_value(attrs, attr) or "").strip()
            if given:
                if given.startswith("_"):
                    job.warnings.append(
                        RewriteWarning(
                            "reserved_link_name",
                            f"link names starting with '_' are reserved for the edge; "
                            f"{given!r} was replaced by its position",
                            "html",
                            offset,
                        )
                    )
                    continue  # the next attribute may still name it
                return given[: self.max_name_length]
        return f"link-{position}"

    def _pixel(self, kind: str, offset: int, job: _Job) -> Insertion:
        url = self.links.open_url(
            self.host, self.account_id, message=job.message, recipient=job.recipient, kind=kind
        )
        return Insertion(kind, offset, self.pixel_markup.format(url=url))

    def _honeypot(self, offset: int, job: _Job) -> Insertion:
        target = self.links.base(self.host, https=self.host.secure) + self.honeypot_path
        url = self.links.click_url(
            self.host,
            self.account_id,
            target,
            message=job.message,
            recipient=job.recipient,
            link=HONEYPOT_LINK,
        )
        return Insertion("honeypot", offset, self.honeypot_markup.format(url=url))

    def _open_kinds_present(self, document: str) -> set[str]:
        """Kinds of open pixel of this edge already in ``document``.

        Found by their URLs wherever they are, not by the scanner: a pixel appended to a
        document that ends inside a comment or an unclosed tag is still there on a rerun.
        """
        kinds: set[str] = set()
        for token in self._own_tokens(document, "o"):
            with contextlib.suppress(BadToken):
                kinds.add(self.codec.read_open(token).kind)
        return kinds

    def _honeypot_present(self, document: str) -> bool:
        """Whether a honeypot link of this edge is anywhere in ``document`` (as above)."""
        for token in self._own_tokens(document, "e"):
            with contextlib.suppress(BadToken):
                if self.codec.read_click(token).link == HONEYPOT_LINK:
                    return True
        return False

    def _own_tokens(self, document: str, kind: str) -> list[str]:
        if f"/{kind}/" not in document:
            return []
        return [
            m.group(3)
            for m in _TRACKING_URL.finditer(document)
            if m.group(2) == kind and normalise_host(m.group(1)) in self.tracking_hosts
        ]

    # -- text --------------------------------------------------------------------------

    def _rewrite_text(self, text: str, job: _Job) -> str:
        limit = self.max_links
        # Stopped one past the limit: a body of nothing but URLs is not listed whole first.
        found = list(find_urls(text) if limit is None else islice(find_urls(text), limit + 1))
        if limit is not None and len(found) > limit:
            raise TooManyLinks("text", limit)
        pieces: list[str] = []
        pos = 0
        for position, (start, end) in enumerate(found, 1):
            raw = text[start:end]
            report, new = self._wrap("text", raw, f"text-{position}", job, False, None, raw, start)
            job.links.append(report)
            if new is not None:
                pieces.append(text[pos:start])
                pieces.append(new)
                pos = end
        if not pieces:
            return text
        pieces.append(text[pos:])
        return "".join(pieces)


def rewrite(
    links: LinkBuilder,
    host: TrackingHost,
    account_id: int,
    html: str | None = None,
    text: str | None = None,
    *,
    tracking_hosts: Iterable[str] = (),
    **options: Any,
) -> RewriteResult:
    """Rewrite one email: :meth:`Rewriter.rewrite` for a one-off call."""
    return Rewriter(links, host, account_id, tracking_hosts=tracking_hosts).rewrite(
        html, text, **options
    )


def _plain(url: str) -> bool:
    """Whether ``url`` is wrapped exactly as it is, without looking further.

    True for a :data:`_PLAIN_URL` that is no click URL of this edge (no "/e/"): then
    :meth:`Rewriter.classify` finds no reason to skip it and ``safe_url()`` returns it
    unchanged (``tests/edge/rewrite/test_properties.py`` holds both), so most links cost one
    match instead of a dozen checks.
    """
    return _PLAIN_URL.fullmatch(url) is not None and "/e/" not in url


def base_url(href: Attribute | None) -> str | None:
    """The document's base URL from its first ``<base href>``, when that is an http(s) URL.

    Apple Mail and the other clients that honour it resolve relative links against it;
    a relative or other base resolves against the message itself, which leads nowhere.
    """
    if href is None or not href.value:
        return None
    url = _TAB_NEWLINE.sub("", decode_attribute(href.value).strip(_C0_AND_SPACE))
    m = _SCHEME.match(url)
    if m is None or m.group(1).lower() not in ("http", "https"):
        return None
    try:
        if not urlsplit(url).hostname:
            return None
    except ValueError:
        return None
    return url


def resolve(base: str, url: str) -> str:
    """``url`` (relative, cleaned) resolved against the http(s) ``base`` as a browser does.

    ``urljoin`` follows RFC 3986; the WHATWG URL parser differs for http(s) in two ways that
    matter here, applied first: a ``\\`` before the query is a ``/``, and any run of slashes
    opening the URL starts a host (``///host/x`` is ``//host/x``).
    """
    cut = len(url)
    for mark in "?#":
        at = url.find(mark)
        if 0 <= at < cut:
            cut = at
    url = _SLASHES.sub("//", url[:cut].replace("\\", "/"), count=1) + url[cut:]
    return urljoin(base, url)


_SLASHES = re.compile(r"^//+")


def _value(attrs: dict[str, Attribute], name: str) -> str | None:
    attr = attrs.get(name)
    if attr is None:
        return None
    return "" if attr.value is None else decode_attribute(attr.value)


def _opted_out(attrs: dict[str, Attribute]) -> bool:
    """Opt-out attributes of this edge and of other platforms, so templates move unchanged.

    ``data-track="false"`` (ours), ``data-msys-clicktrack="0"`` (SparkPost),
    ``clicktracking="off"`` (SendGrid) and ``data-pm-no-track`` (Postmark, by its presence);
    any of 0/false/off/no counts as off.
    """
    if _OPT_OUT_ATTRIBUTES.isdisjoint(attrs):  # the usual case
        return False
    if "data-pm-no-track" in attrs:
        return True
    for name in _OPT_OUT:
        value = _value(attrs, name)
        if value is not None and value.strip().lower() in _OFF:
            return True
    return False


def _utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8; lone surrogates (undecodable input bytes carried by the
    CLI's ``surrogateescape``) count as the byte each stands for, or 3 when they are not one."""
    if text.isascii():  # known without a pass over the text
        return len(text)
    try:
        return len(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return len(text.encode("utf-8", "surrogatepass"))


def _doctype_end(document: str) -> int:
    """Where the top of a document without ``<body>``, ``</head>`` or ``<html>`` is: after
    the doctype, else after a leading byte order mark (markup before either puts the
    document in quirks mode, or shows the mark as text)."""
    m = _DOCTYPE.match(document)
    if m:
        return m.end()
    return 1 if document.startswith("\ufeff") else 0
