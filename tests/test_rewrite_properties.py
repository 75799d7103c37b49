"""Properties of the rewriter over generated (and often malformed) emails.

- nothing else changes: the output minus the wrapped values and the inserted markup is the
  input, byte for byte;
- rewriting twice equals rewriting once;
- no input makes it raise.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.domains import TrackingHost
from edge.links import LinkBuilder
from edge.rewrite import Rewriter, RewriteResult
from edge.tokens import TokenCodec

HOST = TrackingHost("t.brand.example", 9, False, True, 1)
REWRITER = Rewriter(LinkBuilder(TokenCodec(["property-secret"])), HOST, 9)
OPTIONS = {"message": "m", "initial_open": True, "honeypot": True}

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
    "]]>", "<?x?>", "\n", " https://g.example/t. ",
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
def test_html_rewriting_is_idempotent(document: str) -> None:
    once = REWRITER.rewrite(document, **OPTIONS).html
    assert REWRITER.rewrite(once, **OPTIONS).html == once


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
