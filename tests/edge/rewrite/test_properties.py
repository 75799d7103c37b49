"""Properties of the rewriter over generated (and often malformed) emails.

- nothing else changes: the output minus the wrapped values and the inserted markup is the
  input, byte for byte;
- rewriting twice equals rewriting once;
- no input makes it raise;
- all of these hold for documents cut short (every prefix of the golden emails, a random
  prefix of generated ones): each pixel goes where a browser renders it (no comment, tag,
  raw text element or conditional comment is left open before it), and a document that ends
  inside one says so in an ``html_truncated`` warning;
- something does change: every pixel asked for is inserted, and in emails built from known
  pieces the pixels go exactly where they must (after the ``<body>`` every client sees, else
  after ``</head>``/``<html>``/the doctype/a BOM; before the last such ``</body>``, else at
  the end) and every link outside comments and raw text is wrapped or skipped for its reason.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.rewrite.htmlscan import scan
from edge.rewrite.rewriter import _PLACEHOLDER, _PLAIN_URL, Rewriter, RewriteResult, SkipReason
from edge.serving.domains import TrackingHost
from edge.tokens.codec import TokenCodec, safe_url
from edge.tokens.links import LinkBuilder

HOST = TrackingHost("t.brand.example", 9, False, True, 1)
REWRITER = Rewriter(LinkBuilder(TokenCodec(["property-secret"])), HOST, 9)
OPTIONS = {"message": "m", "initial_open": True, "honeypot": True}
HREF = frozenset({"href"})

url = st.one_of(
    st.sampled_from(
        [
            "https://a.example/x?y=1&amp;z=2",
            "http://b.example/",
            "HTTPS://C.EXAMPLE/&copy=1",
            " https://d.example/\n",
            "mailto:x@y.example",
            "#top",
            "/relative",
            "{{ url }}",
            "https://e.example/?u=*|ID|*",
            "javascript:x()",
            "http://[::1/broken",
            "http:///nohost",
            "",
        ]
    ),
    st.text(max_size=12).map(lambda s: "https://f.example/" + s),
)
attribute_name = st.sampled_from(
    ["href", "HREF", "Href", "data-track", "data-link-name", "data-msys-linkname",
     "data-msys-unsubscribe", "clicktracking", "data-pm-no-track", "style", "title", "x"]
)  # fmt: skip
attribute_value = st.one_of(url, st.text(max_size=8), st.sampled_from(["false", "0", "off"]))


@st.composite
def attribute(draw) -> str:
    name = draw(attribute_name)
    if draw(st.booleans()):
        return f" {name}"
    quote = draw(st.sampled_from(['"', "'", ""]))
    space = draw(st.sampled_from(["", " ", "\n"]))
    return f" {name}{space}={space}{quote}{draw(attribute_value)}{quote}"


tag_name = st.sampled_from(
    ["a", "A", "area", "v:roundrect", "V:RECT", "p", "td", "img", "body", "BODY", "/body",
     "/BODY", "html", "/head", "/a", "script", "style", "title", "/script", "/style"]
)  # fmt: skip
tag = st.builds(
    lambda name, attrs, end: f"<{name}{''.join(attrs)}{end}",
    tag_name,
    st.lists(attribute(), max_size=4),
    st.sampled_from([">", "/>", " >", ""]),
)
MARKUP = [
    "<!--", "-->", "<!-- c -->", "<!--[if mso]>", "<![endif]-->", "<!--[if !mso]><!-->",
    "<!--<![endif]-->", "<!DOCTYPE html>", "<", ">", "&", "&amp;", '"', "'", "</", "<![CDATA[",
    "]]>", "<?x?>", "\n", " https://g.example/t. ", "\ufeff",
    '<!--[if mso]><body class="mso"><![endif]-->', "<!--[if mso]></body><![endif]-->",
    "<!--[if !mso]><!--><body><!--<![endif]-->", '<base href="https://base.example/d/">',
]  # fmt: skip
fragment = st.one_of(tag, st.text(max_size=10), st.sampled_from(MARKUP))
documents = st.lists(fragment, max_size=25).map("".join)


def restore(output: str, result: RewriteResult) -> str:
    """The output with every inserted markup removed and every wrapped value put back."""
    for insertion in result.insertions:
        assert insertion.markup in output
        output = output.replace(insertion.markup, "", 1)
    pos = 0
    for link in result.links:
        if link.wrapped:
            assert link.tracking_url is not None
            at = output.index(link.tracking_url, pos)
            output = output[:at] + link.raw + output[at + len(link.tracking_url) :]
            pos = at + len(link.raw)
    return output


# PROPERTY_EXAMPLES=5000 for a longer hunt than the default run's.
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "300"))
common = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@common
@given(documents)
def test_html_output_minus_wrapped_values_and_insertions_is_the_input(document: str) -> None:
    result = REWRITER.rewrite(document, **OPTIONS)
    assert restore(result.html, result) == document


@common
@given(documents)
def test_every_pixel_asked_for_is_inserted_and_every_link_has_an_outcome(document: str) -> None:
    result = REWRITER.rewrite(document, **OPTIONS)
    assert sorted(i.kind for i in result.insertions) == ["honeypot", "initial_open", "open"]
    for insertion in result.insertions:
        assert 0 <= insertion.offset <= len(document)
        assert not (insertion.offset == 0 and document.startswith("\ufeff"))
    for link in result.links:
        assert link.wrapped is (link.reason is None) is (link.tracking_url is not None)


@common
@given(documents)
def test_html_rewriting_is_idempotent(document: str) -> None:
    once = REWRITER.rewrite(document, **OPTIONS).html
    assert REWRITER.rewrite(once, **OPTIONS).html == once


def assert_rewritten_exactly(document: str) -> None:
    """The properties above, and where the pixels go and what is warned, for one document."""
    result = REWRITER.rewrite(document, **OPTIONS)
    assert restore(result.html, result) == document
    assert REWRITER.rewrite(result.html, **OPTIONS).html == result.html
    for offset in {insertion.offset for insertion in result.insertions}:
        # Nothing left open before it: it is in the markup every client renders.
        assert scan(document[:offset], HREF).open_end is None, offset
    open_end = scan(document, HREF).open_end
    truncated = [w.offset for w in result.warnings if w.code == "html_truncated"]
    assert truncated == ([] if open_end is None else [open_end])


@common
@given(documents, st.integers(min_value=0))
def test_a_generated_document_cut_anywhere_is_rewritten_exactly(document: str, cut: int) -> None:
    assert_rewritten_exactly(document)
    assert_rewritten_exactly(document[: cut % (len(document) + 1)])


GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(
    "name", ["fragment.html", "newsletter.html", "outlook-crlf.html", "receipt.html"]
)
def test_every_prefix_of_a_golden_email_is_rewritten_exactly(name: str) -> None:
    document = (GOLDEN / name).read_bytes().decode("utf-8")
    for end in range(len(document) + 1):
        assert_rewritten_exactly(document[:end])


@common
@given(documents)
def test_text_output_minus_wrapped_values_is_the_input(document: str) -> None:
    result = REWRITER.rewrite(text=document)
    assert restore(result.text, result) == document


@common
@given(documents)
def test_text_rewriting_is_idempotent(document: str) -> None:
    once = REWRITER.rewrite(text=document).text
    assert REWRITER.rewrite(text=once).text == once


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_as_html_and_text_never_raises(document: str) -> None:
    result = REWRITER.rewrite(document, document, **OPTIONS)
    assert restore(result.html, result) == document


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_decoded_leniently_never_raise(data: bytes) -> None:
    document = data.decode("utf-8", "surrogateescape")
    result = REWRITER.rewrite(document, document, **OPTIONS)
    assert restore(result.html, result) == document


# -- emails built from known pieces: where each landmark and link is, is known ------------


@dataclass
class Built:
    document: str = ""
    #: Where the initial-open pixel must go, and the open pixel.
    top: int | None = None
    bottom: int | None = None
    #: Fallbacks, in the rewriter's order of preference.
    outlook_top: int | None = None
    outlook_bottom: int | None = None
    after_head: int | None = None
    after_html: int | None = None
    after_doctype: int | None = None
    #: (url, reason) of every link outside comments and raw text, in order.
    links: list[tuple[str, SkipReason | None]] | None = None

    def add(self, piece: str) -> int:
        """Append ``piece``; return where it starts."""
        start = len(self.document)
        self.document += piece
        return start


# (markup, url, reason): links that are reported; url None for what is never a link.
CONTENT = [
    ('<a href="https://a.example/1">x</a>', "https://a.example/1", None),
    ("<A HREF=https://b.example/2?x=1&amp;y=2>y</A>", "https://b.example/2?x=1&y=2", None),
    ('<a data-track="false" href="https://c.example/">z</a>', "https://c.example/",
     SkipReason.OPTED_OUT),
    ('<a href="mailto:x@y.example">m</a>', "mailto:x@y.example", SkipReason.MAILTO),
    ('<a href="https://d.example/?u=%7B%7Bid%7D%7D">p</a>', "https://d.example/?u=%7B%7Bid%7D%7D",
     SkipReason.PLACEHOLDER),
    ('<!--[if mso]><v:roundrect href="https://v.example/"></v:roundrect><![endif]-->',
     "https://v.example/", None),
    ('<!-- <a href="https://no.example/"> -->', None, None),
    ("<script>var a = '<a href=\"https://no.example/\">';</script>", None, None),
    ("<style>a[href='<a href=x>']{}</style>", None, None),
    ("<p>", None, None), ("</p>", None, None), ("<td class=x>", None, None),
    ("text &amp; more ", None, None), ("\r\n", None, None),
]  # fmt: skip


@st.composite
def built_emails(draw) -> Built:
    b = Built(links=[])
    if draw(st.booleans()):
        b.add("\ufeff")
        b.after_doctype = 1
    if draw(st.booleans()):
        doctype = draw(st.sampled_from(["<!DOCTYPE html>", "<!doctype html>", "\n<!DOCTYPE x>"]))
        b.after_doctype = b.add(doctype) + len(doctype)
    if draw(st.booleans()):
        tag = draw(st.sampled_from(["<html>", '<HTML lang="en">']))
        b.after_html = b.add(tag) + len(tag)
    if draw(st.booleans()):
        head = draw(st.sampled_from(["<head><title>t</title></head>", "<HEAD></HEAD >"]))
        b.after_head = b.add(head) + len(head)
    if draw(st.booleans()):  # counts after the comment, where browsers render a pixel too
        outlook_body = '<!--[if mso]><body class="mso"><![endif]-->'
        b.outlook_top = b.add(outlook_body) + len(outlook_body)
    opening = draw(
        st.sampled_from(["", "<body>", '<BODY bgcolor="#fff">',
                         "<!--[if !mso]><!--><body><!--<![endif]-->"])
    )  # fmt: skip
    if opening:
        tag_end = opening.index(">", opening.lower().index("<body")) + 1
        b.top = b.add(opening) + tag_end
    for markup, url, reason in draw(st.lists(st.sampled_from(CONTENT), max_size=12)):
        b.add(markup)
        if url is not None:
            b.links.append((url, reason))  # type: ignore[union-attr]
    endings = draw(
        st.permutations(
            [
                draw(st.sampled_from(["", "<!--[if mso]></body><![endif]-->"])),
                draw(st.sampled_from(["", "</body>", "</BODY >",
                                      "<!--[if !mso]><!--></body><!--<![endif]-->"])),
            ]
        )
    )  # fmt: skip
    for ending in endings:
        if not ending:
            continue
        at = b.add(ending)
        if ending.startswith("<!--[if mso]>"):
            b.outlook_bottom = at  # before the comment, where browsers render a pixel too
        else:
            b.bottom = at + ending.index("</")
    b.add(draw(st.sampled_from(["", "</html>", "\r\n"])))
    return b


@common
@given(built_emails())
def test_pixels_go_exactly_where_they_must_in_a_built_email(b: Built) -> None:
    result = REWRITER.rewrite(b.document, message="m", initial_open=True)
    offsets = {i.kind: i.offset for i in result.insertions}
    top = next(
        (at for at in (b.top, b.outlook_top, b.after_head, b.after_html, b.after_doctype)
         if at is not None),
        0,
    )  # fmt: skip
    bottom = next((at for at in (b.bottom, b.outlook_bottom) if at is not None), len(b.document))
    assert offsets == {"initial_open": top, "open": bottom}


@common
@given(built_emails())
def test_every_link_of_a_built_email_is_wrapped_or_skipped_for_its_reason(b: Built) -> None:
    result = REWRITER.rewrite(b.document, track_opens=False)
    outcome = [(link.url, link.reason) for link in result.links]
    assert outcome == b.links
    assert [link.wrapped for link in result.links] == [r is None for _, r in b.links]  # type: ignore[union-attr]
    for link in result.links:
        if link.wrapped:
            assert f'"{link.tracking_url}"' in result.html or f"={link.tracking_url}>" in (
                result.html or ""
            )


@common
@given(built_emails(), st.integers(min_value=0))
def test_a_built_email_cut_anywhere_is_rewritten_exactly(b: Built, cut: int) -> None:
    assert_rewritten_exactly(b.document[: cut % (len(b.document) + 1)])


WANTED = frozenset(
    {"href", "data-msys-linkname", "data-link-name", "data-msys-unsubscribe",
     "data-pm-no-track", "data-track", "data-msys-clicktrack", "clicktracking"}
)  # fmt: skip


@common
@given(documents)
def test_scanning_for_some_attributes_finds_what_scanning_for_all_finds(document: str) -> None:
    """The scanner reads the usual link tag whole when attributes are named (a faster path
    through one pattern); it must find the same tags, values and spans as the general path."""
    wanted = scan(document, WANTED)
    every = scan(document)
    assert [(t.name, t.start, t.end) for t in wanted.links] == [
        (t.name, t.start, t.end) for t in every.links
    ]
    for fast, general in zip(wanted.links, every.links, strict=True):
        assert fast.attributes == {k: a for k, a in general.attributes.items() if k in WANTED}
    assert (wanted.body_start, wanted.body_end, wanted.open_end, wanted.unterminated) == (
        every.body_start, every.body_end, every.open_end, every.unterminated,
    )  # fmt: skip


url_text = st.one_of(
    url,
    st.lists(
        st.sampled_from(
            ["http", "https", "HTTPS", "hTtP", "://", "/", "a.example", "[", "]", "{{", "%",
             "%7B", "*|", "$", "\\", "@", ":", "8080", "/e/", "?", "#", "&", " ", "\t", "\n",
             "\x00", "\x7f", "é", "\u017f", ".", "-", "~", "|", "^", "`", '"', "'"]
        ) | st.text(max_size=3),
        max_size=10,
    ).map("".join),
)  # fmt: skip


@common
@given(url_text)
def test_the_plain_url_shortcut_classifies_as_every_rule_would(value: str) -> None:
    assert REWRITER.classify(value) == REWRITER._classify(value)
    if _PLAIN_URL.fullmatch(value):  # wrapped without safe_url(): it must change nothing
        assert safe_url(value) == value


# The placeholder openings as the plain alternation of what each opening may be written as:
# the rewriter's pattern groups them by first character (faster), and must find the same.
_LB, _PCT = r"(?:\{|%7B)", r"(?:%25|%(?![0-9A-F]{2}))"
PLACEHOLDER_OPENINGS = re.compile(
    rf"{_LB}{_LB}|{_LB}{_PCT}|(?:\*|%2A)(?:\||%7C)|%%|%25{_PCT}|(?:\[|%5B){{2}}|(?:\$|%24){_LB}",
    re.IGNORECASE,
)
escapes = st.lists(
    st.sampled_from(
        ["{", "%", "*", "|", "[", "$", "7B", "7b", "25", "2A", "2a", "7C", "5B", "24", "22",
         "A", "x", "0", "%7B", "%25"]
    ),
    max_size=8,
).map("".join)  # fmt: skip


@common
@given(escapes | url_text)
def test_the_placeholder_pattern_finds_every_opening_and_nothing_else(value: str) -> None:
    assert bool(_PLACEHOLDER.search(value)) == bool(PLACEHOLDER_OPENINGS.search(value))
