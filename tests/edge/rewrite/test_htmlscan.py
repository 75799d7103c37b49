"""The HTML scanner: which tags are links, where values are, what is skipped."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.rewrite import htmlscan
from edge.rewrite.htmlscan import _CHARREF, _decode_reference, decode_attribute, scan


def hrefs(document: str) -> list[str | None]:
    return [tag.get("href") for tag in scan(document).links]


def test_finds_a_area_and_vml_links_in_any_case() -> None:
    doc = "<a href=\"1\"></a><AREA HREF=2><V:RoundRect Href='3'></v:roundrect><v:oval href=4>"
    assert [t.name for t in scan(doc).links] == ["a", "area", "v:roundrect", "v:oval"]
    assert hrefs(doc) == ["1", "2", "3", "4"]


def test_other_tags_with_href_are_not_links() -> None:
    assert hrefs('<link href="x.css"><base href="/"><abbr href="y">') == []


def test_value_spans_point_into_the_document_for_each_quoting() -> None:
    doc = '<a href="dq"></a><a href=\'sq\'></a><a href=uq></a><a href = "sp"></a>'
    spans = [
        (a.quote, doc[a.start : a.end]) for t in scan(doc).links for a in [t.attributes["href"]]
    ]
    assert spans == [('"', "dq"), ("'", "sq"), ("", "uq"), ('"', "sp")]


def test_bare_href_has_no_value() -> None:
    tag = scan("<a target=_blank href>").links[0]
    assert tag.attributes["href"].value is None


def test_first_of_duplicate_attributes_wins() -> None:
    assert hrefs('<a href="first" HREF="second">') == ["first"]


def test_comments_are_skipped() -> None:
    assert hrefs('<!-- <a href="no"> --><a href="yes">') == ["yes"]


def test_unterminated_comment_runs_to_the_end() -> None:
    assert hrefs('<a href="yes"><!-- <a href="no">') == ["yes"]


def test_abrupt_empty_comments_end_at_once() -> None:
    assert hrefs('<!--><a href="1"><!---><a href="2">') == ["1", "2"]


def test_conditional_comment_content_is_scanned() -> None:
    doc = (
        '<!--[if mso]><v:rect href="vml"></v:rect><![endif]-->'
        '<!--[if !mso]><!--><a href="html"><!--<![endif]-->'
    )
    assert hrefs(doc) == ["vml", "html"]


@pytest.mark.parametrize("element", ["script", "style", "textarea", "title", "STYLE", "xmp"])
def test_raw_text_elements_hide_links(element: str) -> None:
    doc = f'<{element} a="b"><a href="no"></{element.lower()}><a href="yes">'
    assert hrefs(doc) == ["yes"]


def test_lt_inside_a_quoted_attribute_is_not_a_tag() -> None:
    assert hrefs("<img alt=\"<a href='no'>\"><a title='x > y' href=\"yes\">") == ["yes"]


def test_doctype_and_bogus_comments_are_skipped() -> None:
    doc = '<!DOCTYPE html><?xml version="1.0"?><![CDATA[ x ]]><a href="yes">'
    assert hrefs(doc) == ["yes"]


def test_unterminated_link_tag_is_reported_not_returned() -> None:
    doc = '<p>x</p><a href="https://example.com/'
    found = scan(doc)
    assert found.links == []
    assert found.unterminated == [8]


def test_landmarks_are_offsets_of_body_tags() -> None:
    doc = "<html><head></head><BODY class=x><p>hi</p></Body></html>"
    found = scan(doc)
    assert doc[: found.body_start].endswith("<BODY class=x>")
    assert doc[found.body_end :].startswith("</Body>")
    assert doc[: found.head_end].endswith("</head>")
    assert doc[: found.html_start] == "<html>"


def test_only_the_requested_attributes_are_collected() -> None:
    tag = scan('<a style="x href=no" data-x=1 href="yes" class=c>', {"href", "data-x"}).links[0]
    assert {k: a.value for k, a in tag.attributes.items()} == {"data-x": "1", "href": "yes"}


def test_attribute_named_like_a_wanted_prefix_is_not_it() -> None:
    tag = scan("<a hrefx=1 href=2>", {"href"}).links[0]
    assert tag.attributes["href"].value == "2"


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("a&amp;b", "a&b"),
        ("?a=1&#38;b=2", "?a=1&b=2"),
        ("?a=1&#x26;b=2", "?a=1&b=2"),
        ("?a=1&copy=2", "?a=1&copy=2"),  # legacy name before "=": kept in an attribute
        ("?a=1&notit;", "?a=1&notit;"),  # legacy prefix before a letter: kept
        ("&copy 2026", "\u00a9 2026"),
        ("&amp", "&"),
        ("&bogus;", "&bogus;"),
        ("&#0;", "\ufffd"),
        ("a\x00b", "a\ufffdb"),  # a NUL itself, as the tokenizer reads it in a value
        ("a\x00&amp;", "a\ufffd&"),
        ("&#128;", "\u20ac"),
        ("no entities", "no entities"),
    ],
)
def test_attribute_values_decode_as_in_a_browser(raw: str, decoded: str) -> None:
    assert decode_attribute(raw) == decoded


def test_huge_unterminated_tag_does_not_backtrack() -> None:
    doc = "<td " + "a" * 200_000
    assert scan(doc).links == []


@pytest.mark.parametrize(
    "tail", ["<!-- never closed", "<td class='x", "<script>var a = 1;", "<!DOCTYPE", "<a href=x"]
)
def test_construct_left_open_at_the_end_is_reported(tail: str) -> None:
    doc = "<p>done</p>" + tail
    assert scan(doc).open_end == len("<p>done</p>")


@pytest.mark.parametrize("quote", ['"', "'"])
@pytest.mark.parametrize("wanted", [None, {"href"}])
def test_a_quote_never_closed_runs_to_the_end_taking_the_tag_with_it(
    quote: str, wanted: set[str] | None
) -> None:
    # Not an unquoted value starting with a quote: the tokenizer reads to the end inside the
    # quoted value, even past a ">", and drops the tag (HTML §13.2.5.36).
    doc = f"<p>hi <a href={quote}https://x.example/a</p> more"
    found = scan(doc, wanted)
    assert (found.links, found.open_end, found.unterminated) == ([], 6, [6])


def test_an_unquoted_value_holds_quotes_after_its_first_character() -> None:
    assert hrefs("<a href=x\"y'z>") == ["x\"y'z"]


@pytest.mark.parametrize("end_tag", ["</style", "</style ", '</style class="x>'])
def test_a_raw_text_element_whose_end_tag_is_cut_off_runs_to_the_end(end_tag: str) -> None:
    # The tokenizer drops the end tag cut off by the end, so the element never closes.
    doc = f"<p>x</p><style>p {{ color: red }}{end_tag}"
    assert scan(doc).open_end == len("<p>x</p>")


def test_a_comment_never_closed_runs_to_the_end_even_past_a_gt() -> None:
    doc = '<body><p>x</p><!-- note <b>y</b> <a href="https://a.example/">'
    found = scan(doc)
    assert (found.links, found.open_end) == ([], len("<body><p>x</p>"))


def test_a_conditional_comment_never_closed_hides_its_links_and_landmarks() -> None:
    head = "<html><p>x</p>"
    doc = head + '<!--[if mso]><v:rect href="https://v.example/"><body><table><tr><td>'
    found = scan(doc)
    assert (found.links, found.open_end, found.body_start) == ([], len(head), None)


def test_a_conditional_comment_closed_for_browsers_only_keeps_its_links() -> None:
    # An inner "-->" ends the comment for browsers: what follows is markup to them, and
    # Outlook shows it too; only the start of the block is seen alike by both.
    doc = "<p>x<!--[if mso]><!-- c --><a href=y>z"
    found = scan(doc)
    assert ([t.get("href") for t in found.links], found.open_end) == (["y"], 4)


def test_head_and_html_landmarks_only_in_conditional_comments_count_after_them() -> None:
    doc = "<!--[if mso]><html class=mso><![endif]--><p>x</p>"
    assert scan(doc).html_start == doc.index("<p>")


def test_the_first_base_with_an_href_outside_comments_is_the_base() -> None:
    doc = (
        '<!-- <base href="https://c.example/"> --><!--[if mso]><base href=https://m/><![endif]-->'
        '<BASE target=_blank><base HREF="https://b.example/d/"><base href="https://e.example/">'
    )
    assert scan(doc).base_href.value == "https://b.example/d/"  # type: ignore[union-attr]


def test_document_ending_cleanly_has_no_open_end() -> None:
    assert scan("<p>done</p> text < 3").open_end is None


@pytest.mark.parametrize(
    "doc",
    [
        "<a href='" * 20_000,
        "<!--" * 50_000,
        "<script>" * 20_000,
        "<a " * 50_000,
        "<!--[if mso]>" * 20_000,
        "<!--" + "-" * 200_000,
        '<p title="<a href=\'x>"' * 20_000,
    ],
)
def test_malformed_input_is_scanned_in_linear_time(doc: str) -> None:
    started = time.perf_counter()
    scan(doc)
    assert time.perf_counter() - started < 2  # each takes a few milliseconds


MSO_BODY = (
    '<html><head></head><!--[if mso]><body class="mso"><![endif]-->'
    "<!--[if !mso]><!--><body><!--<![endif]--><p>x</p>"
)


def test_a_body_tag_in_an_outlook_only_block_is_not_the_body_start() -> None:
    found = scan(MSO_BODY + "</body></html>")
    assert found.body_start == MSO_BODY.index("<body>") + len("<body>")


def test_a_closing_body_in_an_outlook_only_block_is_not_the_body_end() -> None:
    doc = "<body><p>x</p></body><!--[if mso]></body><![endif]--></html>"
    assert scan(doc).body_end == doc.index("</body>")


def test_body_landmarks_only_in_conditional_comments_count_at_the_comments_edges() -> None:
    # Outside the comment browsers render a pixel; for Outlook it is still inside the body.
    doc = "<!--[if mso]><body><![endif]--><p>x</p><!--[if mso]></body><![endif]-->"
    found = scan(doc)
    assert (found.body_start, found.body_end) == (doc.index("<p>"), doc.index("</p>") + 4)


def test_links_in_both_kinds_of_conditional_comment_are_still_found() -> None:
    doc = MSO_BODY.replace("<p>x</p>", '<!--[if mso]><a href="1"><![endif]--><a href="2">')
    assert hrefs(doc) == ["1", "2"]


def test_scan_stops_after_max_links_and_says_so() -> None:
    doc = '<a href="1"><a href="2"><a href="3">'
    assert (len(scan(doc, max_links=3).links), scan(doc, max_links=3).over_limit) == (3, False)
    assert (len(scan(doc, max_links=2).links), scan(doc, max_links=2).over_limit) == (2, True)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(["&amp;", "&", "amp;", "&copy", "=", "a", ";", "&#38;", "x"]), max_size=12
    ).map("".join)
)
def test_the_amp_only_shortcut_decodes_as_the_full_rules_do(value: str) -> None:
    assert decode_attribute(value) == _CHARREF.sub(_decode_reference, value)


# The scanner's walk without its shortcuts (plain start and end tags, downlevel-revealed
# comments walked over): every "<" goes through the stop check and the general branches, and
# a revealed comment is a token of its own, as before the shortcuts existed.
_GENERAL_WALK = re.compile(
    rf"(?:[^<]++|<(?!{htmlscan._STOP})(?:{htmlscan._OTHER}))*+"
    + htmlscan._TOKEN.pattern[len(htmlscan._SKIP) :].replace(
        "(?P<if>", f"(?P<revealed>{htmlscan._REVEALED})|(?P<if>", 1
    ),
    re.DOTALL,
)

_PIECES = st.sampled_from(
    ["<td>", "</td>", "<TR class=x>", "<tbody a='>'>", "<title>", "</title>", "<textarea>",
     "<b>", "</B >", "<h2>", "<Body>", "</body>", "</HEAD>", "<html>", "<xmp>", "<iframe>",
     "<noembed>", "<noframes/>", "<s>", "<style>", "</style>", "<script>", "</script>",
     "<a href=x>", "<A HREF='y'>", "<area href", "<v:rect href=z>", "<abbr>", "<video>",
     "<!--", "-->", "<!-- c -->", "<!--[if mso]>", "<![endif]-->", "<!--[if !mso]><!-->",
     "<!--[if !mso]><!-- -->", "<!--<![endif]-->", "<!DOCTYPE html>", "<?x?>", "</>", "<",
     ">", '"', "'", "=", " ", "\n", "/", "x", "\u017f", "<\u017fcript>", "<t\u0130tle>"]
)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(st.lists(_PIECES | st.text(max_size=4), max_size=30).map("".join))
def test_the_walk_shortcuts_find_the_tokens_the_general_walk_finds(document: str) -> None:
    def tokens(pattern: re.Pattern[str]) -> list[tuple[str, tuple[int, int]]]:
        # The end of the input (no group) is no token: one walk may reach it in more matches.
        return [
            (m.lastgroup, m.span(m.lastgroup))
            for m in pattern.finditer(document)
            if m.lastgroup is not None and m.lastgroup != "revealed"
        ]

    assert tokens(htmlscan._TOKEN) == tokens(_GENERAL_WALK)
