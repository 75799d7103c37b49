"""A scanner that finds the link tags of an HTML email without parsing it into a tree.

The rewriter must hand back the input byte for byte except the values it rewrites, so it
cannot parse and re-serialise (every parser normalises quoting, case, entities, comments).
Instead one regular expression walks the markup the way the HTML tokenizer would
(WHATWG HTML §13.2.5), just far enough to know where tags, comments and raw text are, and
reports the spans of the tags that carry links:

- ``<a>``, ``<area>`` and Outlook's VML shapes (``<v:roundrect>``, ``<v:rect>``, any ``v:``
  element), names in any case;
- attributes double-, single- or un-quoted, in any case, a duplicate ignored as browsers do;
- comments are skipped, except that the content of Outlook's conditional comments
  (``<!--[if mso]> … <![endif]-->``) is scanned, since Outlook renders it; but a ``<body>``
  or ``</body>`` in such a block is only a landmark when there is none outside one, and then
  at the block's edge, since every other client sees a comment there (the content of a
  "downlevel-revealed" block, ``<!--[if !mso]><!--> … <!--<![endif]-->``, is markup for
  them and counts);
- the first ``<base>`` with an ``href`` outside comments gives the document's base URL;
- ``<script>``, ``<style>``, ``<textarea>``, ``<title>`` and the other raw-text elements are
  skipped to their end tag, so a ``<a`` inside CSS or a script is not a link;
- a ``<`` inside a quoted attribute value is part of the value, not a tag;
- anything else (doctype, ``<?…>``, ``<![CDATA[…``) is a bogus comment ending at ``>``;
- a tag, comment or raw text element left open at the end of the input swallows the rest,
  as in a browser (a quote never closed runs to the end with its tag, a ``<!--`` never closed
  to the end whatever ``>`` follows); where it starts is reported, since nothing can be
  appended after it; a conditional comment never closed is reported alike, and when not even
  a ``-->`` closes it for browsers, no link in it counts.

Nothing here raises on malformed input: every byte is either part of a token or text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from html.entities import html5

# Possessive quantifiers and atomic groups keep matching linear: an attribute list can only
# be split one way, so the engine never backtracks into it (no catastrophic cases on
# malformed input).
# An attribute value. A quote opens a value that only the same quote closes: one never closed
# runs to the end of the input, taking the tag with it (the tokenizer drops a tag the end
# cuts off, HTML §13.2.5.36-38), so an unquoted value never starts with a quote.
_ANY_VALUE = r"""(?:"[^"]*+"?+|'[^']*+'?+|[^\t\n\f\r >]*+)"""
_ONE_ATTRIBUTE = rf"[^\t\n\f\r />][^\t\n\f\r />=]*+(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+{_ANY_VALUE})?+"
_ATTRS = rf"(?>[\t\n\f\r /]*+{_ONE_ATTRIBUTE})*+"
_END = r"[\t\n\f\r /]*+>"
_AFTER_NAME = r"(?=[\t\n\f\r />])"
# With them <template>: its content is inert (never rendered, never fetched), so neither a
# pixel nor a </body> landmark inside it counts, and its links are never followed.
_RAW_TEXT = "script|style|textarea|title|xmp|iframe|noembed|noframes|template"

# A raw text element with its content; one without a whole end tag runs to the end (see
# _TOKEN): once "</style " is read, the rest up to ">" is that end tag, or is dropped with it.
_RAW = "|".join(
    rf"(?i:{name}){_AFTER_NAME}{_ATTRS}{_END}(?:[^<]++|<(?!/(?i:{name}){_AFTER_NAME}))*+"
    rf"(?=</(?i:{name}){_AFTER_NAME}{_ATTRS}{_END})"
    for name in _RAW_TEXT.split("|")
)
# Outlook's conditional comments: the opening (the content is scanned, not skipped) and the
# closing "<![endif]-->". An opening followed at once by a comment's end ("<!-->") is
# "downlevel-revealed": other clients see its content as markup.
_IF = r"!--\[(?i:if)[^\]>]*+\]>"
_ENDIF = r"!\[(?i:endif)\][^>]*+>"
# Tags the scanner stops at: link tags and the landmarks where pixels go, and conditional
# comments (which decide whether a <body> there is a landmark).
_STOP = rf"(?:(?:[aA]|(?i:area|v:[a-z0-9_-]*+|/?body|/head|html|base)){_AFTER_NAME}|{_IF}|{_ENDIF})"
# The commonest tags, each settled by one look at its name: a start tag that is no link
# (a, area, v:...), no landmark (body, html, base) and no raw text element, and an end tag other
# than </body> and </head>. They match exactly what the general branches of _SKIP would.
_PLAIN_START_TAG = (
    r"<(?=[b-uw-zB-UW-Z])(?![bB](?i:ody|ase)_A|[hH](?i:tml)_A|[sS](?i:cript|tyle)_A"
    r"|[tT](?i:extarea|itle|emplate)_A|[xX](?i:mp)_A|[iI](?i:frame)_A|[nN](?i:oembed|oframes)_A)"
    rf"[a-zA-Z][^\t\n\f\r />]*+{_ATTRS}{_END}"
).replace("_A", _AFTER_NAME)
_PLAIN_END_TAG = (
    r"</(?![bB](?i:ody)_A|[hH](?i:ead)_A)"
    rf"[a-zA-Z][^\t\n\f\r />]*+{_ATTRS}{_END}"
).replace("_A", _AFTER_NAME)
# Everything the scanner walks over without stopping, so that a match costs one Python
# iteration per link, not one per tag. Only complete constructs: one left open at the end of
# the input stops the walk and is reported (_TOKEN's "eof"). No capturing groups in here:
# CPython 3.11 mishandles captures inside a possessive repeat.
# A "downlevel-revealed" conditional comment hides nothing: walked over like a comment.
_REVEALED = rf"<{_IF}<!--(?:-?|[\t\n\f\r ]*+--)>"
# What follows any other "<" that is not a stop.
_OTHER = (
    # Raw text: the element and everything up to its end tag (a "<a" in CSS is no link).
    rf"(?=[sStTxXiInN])(?:{_RAW})"
    # Any other start or end tag (a raw text start tag without its end tag is left open).
    rf"|(?:/|(?!(?i:{_RAW_TEXT}){_AFTER_NAME}))[a-zA-Z][^\t\n\f\r />]*+{_ATTRS}{_END}"
    # Comments ("<!-->" and "<!--->" are complete ones).
    r"|!--(?:-?>|(?:[^-]++|-(?!-!?>))*+--!?>)"
    # Doctype and bogus comments ("<!--" always opens a comment, even one never closed).
    r"|(?:!(?!--)|\?|/(?![a-zA-Z>]))[^>]*+>"
    r"|/>"  # "</>" is dropped by browsers
    r"|(?![a-zA-Z/!?])"  # a "<" that starts nothing is text
)
_SKIP = rf"(?:[^<]++|{_PLAIN_START_TAG}|{_PLAIN_END_TAG}|{_REVEALED}|<(?!{_STOP})(?:{_OTHER}))*+"
_TOKEN = re.compile(
    _SKIP + r"(?:"
    rf"(?P<link><(?P<name>[aA]|(?i:area|v:[a-z0-9_-]*+)){_AFTER_NAME}{_ATTRS}{_END})"
    rf"|(?P<body><(?i:body){_AFTER_NAME}{_ATTRS}{_END})"
    rf"|(?P<body_end></(?i:body){_AFTER_NAME}{_ATTRS}{_END})"
    rf"|(?P<head_end></(?i:head){_AFTER_NAME}{_ATTRS}{_END})"
    rf"|(?P<html><(?i:html){_AFTER_NAME}{_ATTRS}{_END})"
    rf"|(?P<base><(?i:base){_AFTER_NAME}{_ATTRS}{_END})"
    rf"|(?P<if><{_IF})"
    rf"|(?P<endif><{_ENDIF})"
    # A tag, comment or raw text element never closed: browsers take the rest of the input
    # into it (and show none of it).
    r"|(?P<eof><.*)"
    r"|\Z)",
    re.DOTALL,
)

_VALUE = (
    r"""(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+"""
    r"""(?:"(?P<dq>[^"]*+)"|'(?P<sq>[^']*+)'|(?P<uq>[^\t\n\f\r >]*+)))?+"""
)
_ATTR = re.compile(r"[\t\n\f\r /]*+(?P<name>[^\t\n\f\r />][^\t\n\f\r />=]*+)" + _VALUE)
_LINK_START = re.compile(rf"</?(?:a|area|v:[a-z][a-z0-9_-]*+){_AFTER_NAME}", re.IGNORECASE)


@dataclass(slots=True)
class Attribute:
    """One attribute of a tag; ``start``/``end`` delimit its value in the document."""

    name: str
    #: The value exactly as written (entities not decoded), ``None`` for a bare attribute.
    value: str | None
    start: int
    end: int
    #: ``'"'``, ``"'"`` or ``""`` (unquoted or bare).
    quote: str


@dataclass(slots=True)
class LinkTag:
    """A tag that may carry a link: its lower-cased name, span and attributes."""

    name: str
    start: int
    end: int
    #: Lower-cased name to attribute; the first of duplicates wins, as in a browser.
    attributes: dict[str, Attribute]

    def get(self, name: str) -> str | None:
        attr = self.attributes.get(name)
        return None if attr is None else attr.value


@dataclass(slots=True)
class ScannedDocument:
    """What the rewriter needs to know about a document, as offsets into it.

    The landmarks are those every client sees. One found only inside an Outlook conditional
    comment (``<!--[if mso]><body><![endif]-->``) counts when there is none outside one, and
    then as the edge of that comment: a ``</body>`` in it as the comment's start, a
    ``<body>``, ``</head>`` or ``<html>`` as its end. A pixel put there is outside the
    comment, so browsers render it, and still in the body that Outlook sees.
    """

    #: The link tags in document order: each a :class:`LinkTag`, except the usual one (a
    #: valued ``href`` and no other wanted attribute), which is left as the token pattern's
    #: match, read by :func:`usual_href`: a newsletter has hundreds, and making two objects
    #: for each cost as much as the rest of the scan's Python. :attr:`links` has them all as
    #: :class:`LinkTag`.
    tags: list[LinkTag | re.Match[str]] = field(default_factory=list)
    #: End of the first ``<body …>`` tag (where the initial-open pixel goes).
    body_start: int | None = None
    #: Start of the last ``</body>`` tag (where the open pixel goes).
    body_end: int | None = None
    #: End of ``</head>`` and of ``<html …>``: fallbacks for the top of a body-less document.
    head_end: int | None = None
    html_start: int | None = None
    #: The ``href`` of the first ``<base>`` that has one (the document's base URL).
    base_href: Attribute | None = None
    #: Offsets of link tags cut off by the end of the input (left alone, reported).
    unterminated: list[int] = field(default_factory=list)
    #: Where a tag, comment, raw text element or conditional comment left open at the end of
    #: the input starts: anything appended after it would be swallowed by it, or be hidden
    #: from Outlook or from browsers (see :func:`describe_open`).
    open_end: int | None = None
    #: The scan stopped at more than ``max_links`` link tags: ``links`` is incomplete.
    over_limit: bool = False

    @property
    def links(self) -> list[LinkTag]:
        """The link tags, in document order."""
        return [tag if isinstance(tag, LinkTag) else _usual_link_tag(tag) for tag in self.tags]


def scan(
    document: str, attributes: Collection[str] | None = None, *, max_links: int | None = None
) -> ScannedDocument:
    """Find the link tags and the landmarks of ``document``.

    ``attributes`` names the (lower-case) attributes to collect on link tags; ``None``
    collects all of them. With ``max_links``, the scan stops at the link tag after that
    many and sets :attr:`ScannedDocument.over_limit`.
    """
    found = ScannedDocument()
    links = found.tags
    if attributes is None:
        token, pattern = _TOKEN, _ATTR
    else:
        names = frozenset(attributes)
        token, pattern = _token_pattern(names), _attribute_pattern(names)
    limit = -1 if max_links is None else max_links
    # Depth of Outlook conditional comments, where the outermost open one starts, the links
    # found before it, and the landmarks found in such comments (see ScannedDocument).
    hidden = block_start = links_before_block = 0
    pending: list[str] = []  # "top" landmarks in the open block: placed at its end
    fallback: dict[str, int] = {}
    for m in token.finditer(document):
        kind = m.lastgroup
        if kind in _HREF_ONLY:
            if len(links) == limit:
                found.over_limit = True
                break
            links.append(m)
        elif kind == "pair":
            if len(links) == limit:
                found.over_limit = True
                break
            links.append(_pair_link_tag(m))
        elif kind == "link":
            if len(links) == limit:
                found.over_limit = True
                break
            links.append(_link_tag(document, m, pattern))
        elif kind == "body":
            if hidden:
                pending.append("body_start")
            elif found.body_start is None:
                found.body_start = m.end()
        elif kind == "body_end":
            if hidden:
                fallback["body_end"] = block_start
            else:
                found.body_end = m.start(kind)
        elif kind == "if":
            if not hidden:
                block_start, links_before_block = m.start(kind), len(links)
            hidden += 1
        elif kind == "endif":
            if hidden:
                hidden -= 1
                if not hidden:
                    for name in pending:
                        fallback.setdefault(name, m.end())
                    pending.clear()
        elif kind == "head_end":
            if hidden:
                pending.append("head_end")
            elif found.head_end is None:
                found.head_end = m.end()
        elif kind == "html":
            if hidden:
                pending.append("html_start")
            elif found.html_start is None:
                found.html_start = m.end()
        elif kind == "base":
            if not hidden and found.base_href is None:
                found.base_href = _first_attribute(document, m.start(kind) + 5, m.end() - 1, _HREF)
        elif kind == "eof":
            found.open_end = m.start(kind)
            if _LINK_START.match(document, found.open_end):
                found.unterminated.append(found.open_end)
    if hidden and not found.over_limit:
        # A conditional comment never closed: Outlook hides (or shows only) everything after
        # it, so only its start is seen alike by every client.
        found.open_end = block_start
        if _COMMENT_END.search(document, block_start + 4) is None:
            # Nor closed for browsers: to them the rest is one comment, with no link in it.
            del links[links_before_block:]
            found.unterminated.clear()
    for name, offset in fallback.items():
        if getattr(found, name) is None:
            setattr(found, name, offset)
    return found


def describe_open(document: str, offset: int) -> str:
    """What is left open at ``offset`` (a :attr:`ScannedDocument.open_end`), in words."""
    if _IF_START.match(document, offset):
        return "an Outlook conditional comment (<!--[if …]>) never closed by <![endif]-->"
    if document.startswith("<!--", offset):
        return "a comment (<!--) never closed by -->"
    if document.startswith(("<!", "<?"), offset):
        return "a declaration (<!…> or <?…>) never closed by >"
    raw = _RAW_START.match(document, offset)
    if raw:
        return f"a <{raw.group(1).lower()}> element never closed"
    if _LINK_START.match(document, offset):
        return "a link tag never closed by >"
    return "a tag never closed by >"


_HREF = frozenset({"href"})
# Where a browser's comment ends (HTML §13.2.5.43-52): at the first "-->" or "--!>".
_COMMENT_END = re.compile(r"--!?>")
_IF_START = re.compile(f"<{_IF}")
_RAW_START = re.compile(rf"<((?i:{_RAW_TEXT})){_AFTER_NAME}{_ATTRS}{_END}")


def _link_tag(document: str, m: re.Match[str], pattern: re.Pattern[str]) -> LinkTag:
    start, end = m.span("link")
    attributes: dict[str, Attribute] = {}
    # Up to the closing ">". Both attribute patterns match end to end from the tag name on,
    # so finditer never resynchronises inside a value.
    for a in pattern.finditer(document, m.end("name"), end - 1):
        key = a.group("name")
        if key is None:  # the rest of the tag held none of the wanted attributes
            break
        key = key.lower()
        if key not in attributes:
            attributes[key] = _attribute(a, key)
    return LinkTag(m.group("name").lower(), start, end, attributes)


def _first_attribute(
    document: str, start: int, end: int, names: frozenset[str]
) -> Attribute | None:
    """The first of ``names`` among the attributes of a tag, from ``start`` to ``end``."""
    a = _attribute_pattern(names).match(document, start, end)
    if a is None or a.group("name") is None:
        return None
    return _attribute(a, a.group("name").lower())


def _attribute(a: re.Match[str], key: str) -> Attribute:
    group = a.lastgroup
    if group is None or group == "name":  # a bare attribute (the name group always matched)
        return Attribute(key, None, a.end(), a.end(), "")
    quote = '"' if group == "dq" else "'" if group == "sq" else ""
    return Attribute(key, a.group(group), a.start(group), a.end(group), quote)


_ATTRIBUTE_PATTERNS: dict[frozenset[str], re.Pattern[str]] = {}


def _other_attributes(names: frozenset[str]) -> tuple[str, str]:
    """Pattern texts: any number of attributes not in ``names``, and ``names`` themselves."""
    wanted = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    # The first letter decides most attributes (style, class...) before the full names.
    first = "".join(sorted({c for n in names for c in (n[0].lower(), n[0].upper())}))
    wanted_here = rf"(?=[{re.escape(first)}])(?i:{wanted}){_NAME_ENDS}"
    return rf"(?>[\t\n\f\r /]*+(?!{wanted_here}){_ONE_ATTRIBUTE})*+", wanted


_NAME_ENDS = r"(?=[\t\n\f\r /=>]|\Z)"


def _attribute_pattern(names: frozenset[str]) -> re.Pattern[str]:
    """A pattern that walks over other attributes inside the engine and stops at ``names``.

    Link tags carry long ``style`` attributes; skipping them without a Python iteration
    each is most of the scanner's saving on a newsletter. Each match ends with one of
    ``names`` or, with no name, at the end of the tag.
    """
    pattern = _ATTRIBUTE_PATTERNS.get(names)
    if pattern is None:
        other, wanted = _other_attributes(names)
        pattern = _ATTRIBUTE_PATTERNS[names] = re.compile(
            rf"{other}[\t\n\f\r /]*+(?:(?P<name>(?i:{wanted})){_NAME_ENDS}{_VALUE}|\Z)"
        )
    return pattern


_TOKEN_PATTERNS: dict[frozenset[str], re.Pattern[str]] = {}
#: The value groups of _token_pattern()'s "href only" link tags, and their quotes.
_HREF_ONLY = {"dq": '"', "sq": "'", "uq": ""}


def _token_pattern(names: frozenset[str]) -> re.Pattern[str]:
    """_TOKEN, plus the usual link tags read whole inside the engine.

    Most link tags have a valued ``href`` and none of the other wanted ``names`` (any
    number of other attributes, ``style``, ``target``...): such a tag is matched with its
    ``href`` value as a group, so it costs no second pass over its attributes. The next
    most have two of the wanted names (an ``href`` and a link name, say), matched with
    both as groups (``pair``). The attributes are split exactly as ``_ATTRS`` splits them;
    any other link tag falls through to the general ``link`` alternative.
    """
    pattern = _TOKEN_PATTERNS.get(names)
    if pattern is None:
        if "href" not in names:
            pattern = _TOKEN
        else:
            other, wanted = _other_attributes(names)
            fast = (
                rf"<(?P<fast>[aA]|(?i:area|v:[a-z0-9_-]*+)){_AFTER_NAME}{other}"
                rf"[\t\n\f\r /]*+(?i:href)[\t\n\f\r ]*+=[\t\n\f\r ]*+"
                r"""(?>"(?P<dq>[^"]*+)"?+|'(?P<sq>[^']*+)'?+|(?P<uq>[^\t\n\f\r >]*+))"""
                rf"{other}{_END}"
            )
            pair = "".join(
                rf"[\t\n\f\r /]*+(?P<n{i}>(?i:{wanted})){_NAME_ENDS}"
                rf"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?P<v{i}>{_ANY_VALUE}))?+{other}"
                for i in (1, 2)
            )
            pair = (
                rf"(?P<pair><(?P<pair_name>[aA]|(?i:area|v:[a-z0-9_-]*+)){_AFTER_NAME}{other}"
                rf"{pair}{_END})"
            )
            text = _TOKEN.pattern
            at = text.index("(?P<link>")
            pattern = re.compile(f"{text[:at]}{fast}|{pair}|{text[at:]}", _TOKEN.flags)
        _TOKEN_PATTERNS[names] = pattern
    return pattern


def usual_href(m: re.Match[str]) -> tuple[int, int]:
    """Where the ``href`` value of a usual link tag (a match in :attr:`ScannedDocument.tags`)
    starts and ends; the tag's name as written is ``m.group(USUAL_NAME)``."""
    # The value's group is the last that matched: lastindex is never None here.
    return m.span(m.lastindex or 0)


#: The group of a usual link tag's match that holds its name as written.
USUAL_NAME = "fast"


def _usual_link_tag(m: re.Match[str]) -> LinkTag:
    kind = m.lastgroup
    assert kind is not None
    start, end = m.span(kind)
    value = Attribute("href", m.group(kind), start, end, _HREF_ONLY[kind])
    return LinkTag(m.group(USUAL_NAME).lower(), m.start(USUAL_NAME) - 1, m.end(), {"href": value})


def _pair_link_tag(m: re.Match[str]) -> LinkTag:
    """The link tag of a ``pair`` match of :func:`_token_pattern`."""
    attributes: dict[str, Attribute] = {}
    for name, value in (("n1", "v1"), ("n2", "v2")):
        key = m.group(name).lower()
        if key in attributes:  # the first of duplicates wins
            continue
        raw = m.group(value)
        if raw is None:  # a bare attribute
            end = m.end(name)
            attributes[key] = Attribute(key, None, end, end, "")
            continue
        start, end = m.span(value)
        quote = raw[:1]
        if quote == '"' or quote == "'":
            attributes[key] = Attribute(key, raw[1:-1], start + 1, end - 1, quote)
        else:
            attributes[key] = Attribute(key, raw, start, end, "")
    return LinkTag(m.group("pair_name").lower(), m.start("pair"), m.end(), attributes)


def decode_attribute(value: str) -> str:
    """Decode character references in an attribute value exactly as a browser does.

    ``html.unescape`` follows the rules for text, which differ in one way that matters for
    links: in an attribute, a legacy reference without ``;`` followed by ``=`` or a letter
    or digit is *not* decoded (HTML §13.2.5.73), so ``?a=1&copy=2`` keeps ``&copy`` while
    ``html.unescape`` would turn it into ``©``. A NUL is read as U+FFFD, as the tokenizer
    reads it in an attribute value (HTML §13.2.5.36-38): a link name or URL with one would
    reach the events, which PostgreSQL's text cannot hold.
    """
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if "&" not in value:
        return value
    if value.count("&") == value.count("&amp;"):  # the usual case: "&amp;" is always "&"
        return value.replace("&amp;", "&")
    return _CHARREF.sub(_decode_reference, value)


_CHARREF = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|([A-Za-z][A-Za-z0-9]*)(;?))")


def _decode_reference(m: re.Match[str]) -> str:
    name = m.group(1)
    if name is None:  # numeric: decoded whatever follows, invalid code points mapped
        return html.unescape(m.group())
    if m.group(2) and name + ";" in html5:
        return html5[name + ";"]
    # The longest legacy name (those valid without ";") that is a prefix of the run.
    for end in range(min(len(name), _LONGEST_LEGACY), 1, -1):
        prefix = name[:end]
        if prefix in html5:
            following = name[end : end + 1] or m.string[m.end() : m.end() + 1]
            if end < len(name) or m.group(2) or following == "=" or following.isalnum():
                # Followed by a letter, digit, "=" (or an unknown ";" name): left as written.
                return m.group()
            return html5[prefix]
    return m.group()


_LONGEST_LEGACY = max(len(k) for k in html5 if not k.endswith(";"))
