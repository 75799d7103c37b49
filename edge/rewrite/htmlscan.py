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
  or ``</body>`` in such a block is only a landmark when there is none outside one, since
  every other client sees a comment there (the content of a "downlevel-revealed" block,
  ``<!--[if !mso]><!--> … <!--<![endif]-->``, is markup for them and counts);
- ``<script>``, ``<style>``, ``<textarea>``, ``<title>`` and the other raw-text elements are
  skipped to their end tag, so a ``<a`` inside CSS or a script is not a link;
- a ``<`` inside a quoted attribute value is part of the value, not a tag;
- anything else (doctype, ``<?…>``, ``<![CDATA[…``) is a bogus comment ending at ``>``;
- a tag, comment or raw text element left open at the end of the input swallows the rest,
  as in a browser; where it starts is reported, since nothing can be appended after it.

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
_ATTRS = (
    r"(?>[\t\n\f\r /]*+[^\t\n\f\r />][^\t\n\f\r />=]*+"
    r"""(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:"[^"]*+"|'[^']*+'|[^\t\n\f\r >]*+))?+)*+"""
)
_END = r"[\t\n\f\r /]*+>"
_AFTER_NAME = r"(?=[\t\n\f\r />])"
_RAW_TEXT = "script|style|textarea|title|xmp|iframe|noembed|noframes"

# A raw text element with its content; one without an end tag runs to the end (see _TOKEN).
_RAW = "|".join(
    rf"(?i:{name}){_AFTER_NAME}{_ATTRS}{_END}(?:[^<]++|<(?!/(?i:{name}){_AFTER_NAME}))*+"
    rf"(?=</(?i:{name}){_AFTER_NAME})"
    for name in _RAW_TEXT.split("|")
)
# Outlook's conditional comments: the opening (the content is scanned, not skipped) and the
# closing "<![endif]-->". An opening followed at once by a comment's end ("<!-->") is
# "downlevel-revealed": other clients see its content as markup.
_IF = r"!--\[(?i:if)[^\]>]*+\]>"
_ENDIF = r"!\[(?i:endif)\][^>]*+>"
# Tags the scanner stops at: link tags and the landmarks where pixels go, and conditional
# comments (which decide whether a <body> there is a landmark).
_STOP = rf"(?:(?:[aA]|(?i:area|v:[a-z0-9_-]*+|/?body|/head|html)){_AFTER_NAME}|{_IF}|{_ENDIF})"
# The commonest tags, each settled by one look at its name: a start tag that is no link
# (a, area, v:...), no landmark (body, html) and no raw text element, and an end tag other
# than </body> and </head>. They match exactly what the general branches of _SKIP would.
_PLAIN_START_TAG = (
    r"<(?=[b-uw-zB-UW-Z])(?![bB](?i:ody)_A|[hH](?i:tml)_A|[sS](?i:cript|tyle)_A"
    r"|[tT](?i:extarea|itle)_A|[xX](?i:mp)_A|[iI](?i:frame)_A|[nN](?i:oembed|oframes)_A)"
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
    r"|(?:!|\?|/(?![a-zA-Z>]))[^>]*+>"  # doctype and bogus comments
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
    rf"|(?P<if><{_IF})"
    rf"|(?P<endif><{_ENDIF})"
    # A tag, comment or raw text element never closed: browsers take the rest of the input
    # into it (and show none of it).
    r"|(?P<eof><.*)"
    r"|\Z)",
    re.DOTALL,
)

_ONE_ATTRIBUTE = (
    r"[^\t\n\f\r />][^\t\n\f\r />=]*+"
    r"""(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:"[^"]*+"|'[^']*+'|[^\t\n\f\r >]*+))?+"""
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
    """What the rewriter needs to know about a document, as offsets into it."""

    links: list[LinkTag] = field(default_factory=list)
    #: End of the first ``<body …>`` tag (where the initial-open pixel goes).
    body_start: int | None = None
    #: Start of the last ``</body>`` tag (where the open pixel goes).
    body_end: int | None = None
    #: End of ``</head>`` and of ``<html …>``: fallbacks for the top of a body-less document.
    head_end: int | None = None
    html_start: int | None = None
    #: Offsets of link tags cut off by the end of the input (left alone, reported).
    unterminated: list[int] = field(default_factory=list)
    #: Where a tag, comment or raw text element left open at the end of the input starts:
    #: anything appended after it would be swallowed by it.
    open_end: int | None = None
    #: The scan stopped at more than ``max_links`` link tags: ``links`` is incomplete.
    over_limit: bool = False


def scan(
    document: str, attributes: Collection[str] | None = None, *, max_links: int | None = None
) -> ScannedDocument:
    """Find the link tags and the landmarks of ``document``.

    ``attributes`` names the (lower-case) attributes to collect on link tags; ``None``
    collects all of them. With ``max_links``, the scan stops at the link tag after that
    many and sets :attr:`ScannedDocument.over_limit`.
    """
    found = ScannedDocument()
    links = found.links
    if attributes is None:
        token, pattern = _TOKEN, _ATTR
    else:
        names = frozenset(attributes)
        token, pattern = _token_pattern(names), _attribute_pattern(names)
    limit = -1 if max_links is None else max_links
    # Landmarks inside conditional comments hidden from non-Outlook clients, kept apart.
    hidden = 0
    hidden_body_start: int | None = None
    hidden_body_end: int | None = None
    for m in token.finditer(document):
        kind = m.lastgroup
        if kind in _HREF_ONLY:
            if len(links) == limit:
                found.over_limit = True
                break
            start = m.start(kind)
            value = Attribute("href", m.group(kind), start, m.end(kind), _HREF_ONLY[kind])
            links.append(
                LinkTag(m.group("fast").lower(), m.start("fast") - 1, m.end(), {"href": value})
            )
        elif kind == "link":
            if len(links) == limit:
                found.over_limit = True
                break
            links.append(_link_tag(document, m, pattern))
        elif kind == "body":
            if hidden:
                if hidden_body_start is None:
                    hidden_body_start = m.end()
            elif found.body_start is None:
                found.body_start = m.end()
        elif kind == "body_end":
            if hidden:
                hidden_body_end = m.start(kind)
            else:
                found.body_end = m.start(kind)
        elif kind == "if":
            hidden += 1
        elif kind == "endif":
            if hidden:
                hidden -= 1
        elif kind == "head_end":
            if found.head_end is None:
                found.head_end = m.end()
        elif kind == "html":
            if found.html_start is None:
                found.html_start = m.end()
        elif kind == "eof":
            found.open_end = m.start(kind)
            if _LINK_START.match(document, found.open_end):
                found.unterminated.append(found.open_end)
    # Only Outlook sees a body landmark in a conditional comment: used when there is no other.
    if found.body_start is None:
        found.body_start = hidden_body_start
    if found.body_end is None:
        found.body_end = hidden_body_end
    return found


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
        if key in attributes:
            continue
        group = a.lastgroup
        if group == "name":  # a bare attribute
            attributes[key] = Attribute(key, None, a.end(), a.end(), "")
        else:
            quote = '"' if group == "dq" else "'" if group == "sq" else ""
            attributes[key] = Attribute(key, a.group(group), a.start(group), a.end(group), quote)
    return LinkTag(m.group("name").lower(), start, end, attributes)


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
    """_TOKEN, plus the usual link tag read whole inside the engine.

    Most link tags have a valued ``href`` and none of the other wanted ``names`` (any
    number of other attributes, ``style``, ``target``...): such a tag is matched with its
    ``href`` value as a group, so it costs no second pass over its attributes. The
    attributes are split exactly as ``_ATTRS`` splits them; any other link tag falls
    through to the general ``link`` alternative.
    """
    pattern = _TOKEN_PATTERNS.get(names)
    if pattern is None:
        if "href" not in names:
            pattern = _TOKEN
        else:
            other, _ = _other_attributes(names)
            fast = (
                rf"<(?P<fast>[aA]|(?i:area|v:[a-z0-9_-]*+)){_AFTER_NAME}{other}"
                rf"[\t\n\f\r /]*+(?i:href)[\t\n\f\r ]*+=[\t\n\f\r ]*+"
                r"""(?:"(?P<dq>[^"]*+)"|'(?P<sq>[^']*+)'|(?P<uq>[^\t\n\f\r >]*+))"""
                rf"{other}{_END}"
            )
            text = _TOKEN.pattern
            at = text.index("(?P<link>")
            pattern = re.compile(f"{text[:at]}{fast}|{text[at:]}", _TOKEN.flags)
        _TOKEN_PATTERNS[names] = pattern
    return pattern


def decode_attribute(value: str) -> str:
    """Decode character references in an attribute value exactly as a browser does.

    ``html.unescape`` follows the rules for text, which differ in one way that matters for
    links: in an attribute, a legacy reference without ``;`` followed by ``=`` or a letter
    or digit is *not* decoded (HTML §13.2.5.73), so ``?a=1&copy=2`` keeps ``&copy`` while
    ``html.unescape`` would turn it into ``©``.
    """
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
