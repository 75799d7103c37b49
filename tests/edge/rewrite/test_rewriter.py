"""The rewriter's behaviours, one per test (the golden files cover whole emails)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edge.model.events import HONEYPOT_LINK
from edge.rewrite.rewriter import Rewriter, SkipReason, TooManyLinks, served_hosts
from edge.serving.domains import TrackingHost
from edge.tokens.codec import TokenCodec
from edge.tokens.links import LinkBuilder

ACCOUNT = 5
HOST = TrackingHost("t.brand.example", ACCOUNT, False, True, 1)
CODEC = TokenCodec(["rewrite-test-secret"])


def rewriter(host: TrackingHost = HOST, **kwargs) -> Rewriter:
    return Rewriter(LinkBuilder(CODEC), host, ACCOUNT, **kwargs)


def only_link(html: str, **options):
    result = rewriter().rewrite(html, track_opens=False, **options)
    (link,) = result.links
    return result, link


def test_wrapped_link_carries_the_decoded_url_and_its_name() -> None:
    result, link = only_link('<a href="https://a.example/?x=1&amp;y=2">x</a>')
    assert link.wrapped and link.name == "link-1" and link.url == "https://a.example/?x=1&y=2"
    assert result.html == f'<a href="{link.tracking_url}">x</a>'
    token = CODEC.read_click(link.tracking_url.rpartition("/e/")[2])
    assert (token.account_id, token.url, token.link) == (
        ACCOUNT,
        "https://a.example/?x=1&y=2",
        "link-1",
    )


def test_a_nul_in_a_link_name_or_url_is_read_as_a_browser_reads_it() -> None:
    # U+FFFD, never a NUL in a token: the events a click records could not be stored on
    # PostgreSQL, and the ingester would retry that batch forever.
    _, link = only_link('<a href="https://a.example/\x00" data-link-name="buy\x00">x</a>')
    token = CODEC.read_click(link.tracking_url.rpartition("/e/")[2])
    assert (link.name, token.link) == ("buy\ufffd", "buy\ufffd")
    assert token.url == "https://a.example/%EF%BF%BD"


def test_message_and_recipient_go_into_every_token() -> None:
    result = rewriter().rewrite(
        '<a href="http://a.example/">x</a></body>', message="m-1", recipient="Ada@Example.com"
    )
    click = CODEC.read_click(result.links[0].tracking_url.rpartition("/e/")[2])
    opened = CODEC.read_open(result.insertions[0].markup.split("/o/")[1].split('"')[0])
    assert click.message == opened.message == "m-1"
    assert click.recipient == opened.recipient == CODEC.recipient_ref("ada@example.com")
    assert "Ada" not in result.html and "example.com" not in result.html.split("/o/")[1]


def test_http_target_stays_http_on_an_insecure_domain_and_https_stays_https() -> None:
    result = rewriter().rewrite(
        '<a href="http://a.example/">1</a><a href="https://a.example/">2</a>', track_opens=False
    )
    assert [link.tracking_url.split("://")[0] for link in result.links] == ["http", "https"]


def test_secure_domain_makes_every_link_https() -> None:
    secure = rewriter(replace(HOST, secure=True))
    result = secure.rewrite('<a href="http://a.example/">1</a>', track_opens=False)
    assert result.links[0].tracking_url.startswith("https://t.brand.example/e/")


def test_white_space_around_and_newlines_inside_the_url_are_dropped() -> None:
    _, link = only_link('<a href="  https://a.example/long\n/path\r\n/end \t">x</a>')
    assert link.url == "https://a.example/long/path/end"


def test_data_link_name_and_msys_linkname_name_the_link() -> None:
    result = rewriter().rewrite(
        '<a href="http://a.example/" data-link-name="hero">1</a>'
        '<a href="http://b.example/" data-msys-linkname="footer">2</a>',
        track_opens=False,
    )
    assert [link.name for link in result.links] == ["hero", "footer"]


def test_positional_names_count_skipped_links_too() -> None:
    result = rewriter().rewrite(
        '<a href="mailto:x@y.example">1</a><a href="http://a.example/">2</a>', track_opens=False
    )
    assert [link.name for link in result.links] == ["link-1", "link-2"]


def test_long_link_name_is_cut_to_63_characters() -> None:
    _, link = only_link(f'<a href="http://a.example/" data-link-name="{"n" * 100}">x</a>')
    assert link.name == "n" * 63


def test_reserved_link_name_is_replaced_with_a_warning() -> None:
    result, link = only_link(f'<a href="http://a.example/" data-link-name="{HONEYPOT_LINK}">x</a>')
    assert link.name == "link-1"
    assert [w.code for w in result.warnings] == ["reserved_link_name"]


def test_unsubscribe_link_is_marked() -> None:
    _, link = only_link('<a href="http://a.example/u" data-msys-unsubscribe="1">x</a>')
    assert link.unsubscribe and link.wrapped


@pytest.mark.parametrize(
    "attribute",
    ['data-track="false"', "data-track=FALSE", 'data-msys-clicktrack="0"', "clicktracking=off",
     "data-pm-no-track", 'data-pm-no-track=""'],
)  # fmt: skip
def test_opt_out_attributes_leave_the_link_alone(attribute: str) -> None:
    html = f'<a href="http://a.example/" {attribute}>x</a>'
    result, link = only_link(html)
    assert result.html == html
    assert link.reason is SkipReason.OPTED_OUT


def test_data_track_true_is_tracked() -> None:
    _, link = only_link('<a href="http://a.example/" data-track="true">x</a>')
    assert link.wrapped


@pytest.mark.parametrize(
    ("href", "reason"),
    [
        ("mailto:a@b.example", SkipReason.MAILTO),
        ("MAILTO:a@b.example", SkipReason.MAILTO),
        ("tel:+15555550100", SkipReason.TEL),
        ("sms:+15555550100", SkipReason.SMS),
        ("#top", SkipReason.FRAGMENT),
        ("java\nscript:alert(1)", SkipReason.JAVASCRIPT),
        ("data:text/html,x", SkipReason.DATA),
        ("ftp://a.example/f", SkipReason.UNSUPPORTED_SCHEME),
        ("/relative", SkipReason.RELATIVE),
        ("//a.example/protocol-relative", SkipReason.RELATIVE),
        ("page.html", SkipReason.RELATIVE),
        ("", SkipReason.EMPTY),
        ("   ", SkipReason.EMPTY),
        ("http:///no-host", SkipReason.UNPARSEABLE),
    ],
)
def test_skipped_links_are_left_exactly_as_they_are(href: str, reason: SkipReason) -> None:
    html = f"<a HREF='{href}'>x</a>"
    result, link = only_link(html)
    assert result.html == html
    assert (link.wrapped, link.reason) == (False, reason)


@pytest.mark.parametrize(
    "href",
    [
        "https://a.example/?u={{ id }}",
        "https://a.example/{% url 'x' %}",
        "https://a.example/?e=*|EMAIL|*",
        "%%unsub_url%%",
        "https://a.example/[[token]]",
        "https://a.example/${path}",
    ],
)
def test_template_placeholders_are_skipped_with_a_warning(href: str) -> None:
    result, link = only_link(f'<a href="{href}">x</a>')
    assert link.reason is SkipReason.PLACEHOLDER
    assert [w.code for w in result.warnings] == ["placeholder"]


def test_bare_href_is_an_empty_link() -> None:
    _, link = only_link("<a href>x</a>")
    assert link.reason is SkipReason.EMPTY


def test_a_without_href_is_not_reported() -> None:
    assert rewriter().rewrite('<a name="top">x</a>', track_opens=False).links == []


def test_link_of_this_edge_is_already_wrapped_and_reports_its_target() -> None:
    first, _ = only_link('<a href="https://a.example/x" data-link-name="cta">x</a>')
    second, link = only_link(first.html)
    assert second.html == first.html
    assert (link.reason, link.url, link.name) == (
        SkipReason.ALREADY_WRAPPED,
        "https://a.example/x",
        "cta",
    )


def test_link_of_another_known_tracking_host_is_already_wrapped() -> None:
    first, _ = only_link('<a href="https://a.example/x">x</a>')
    moved = first.html.replace("t.brand.example", "track.platform.example")
    result = rewriter(tracking_hosts={"track.platform.example"}).rewrite(moved, track_opens=False)
    assert result.links[0].reason is SkipReason.ALREADY_WRAPPED


def test_look_alike_on_an_unknown_host_or_with_a_bad_token_is_wrapped() -> None:
    first, _ = only_link('<a href="https://a.example/x">x</a>')
    foreign = first.html.replace("t.brand.example", "evil.example")
    forged = first.html[:-12] + "X" + first.html[-11:]
    for html in (foreign, forged):
        assert only_link(html)[1].wrapped


def test_open_pixel_goes_just_before_the_closing_body_tag() -> None:
    result = rewriter().rewrite("<html><body><p>x</p></BODY></html>")
    (pixel,) = result.insertions
    assert result.html == f"<html><body><p>x</p>{pixel.markup}</BODY></html>"
    assert pixel.kind == "open" and pixel.offset == 20


def test_open_pixel_is_appended_when_there_is_no_body() -> None:
    result = rewriter().rewrite("<p>x</p>\n")
    assert result.html == "<p>x</p>\n" + result.insertions[0].markup


def test_a_body_end_inside_a_template_is_no_place_for_the_pixel() -> None:
    # A template's content is inert: the image would never be fetched, and a browser ignores
    # the </body> in it.
    result = rewriter().rewrite("<body><template></body></template>x")
    assert result.html == "<body><template></body></template>x" + result.insertions[0].markup


def test_pixel_markup_is_a_hidden_1x1_image_with_empty_alt() -> None:
    markup = rewriter().rewrite("<body></body>").insertions[0].markup
    assert markup.startswith('<img src="http://t.brand.example/o/')
    for part in ('width="1"', 'height="1"', 'alt=""', 'border="0"', "max-height:0"):
        assert part in markup


def test_initial_open_pixel_goes_right_after_the_body_tag_with_its_own_kind() -> None:
    result = rewriter().rewrite('<body class="x"><p>x</p></body>', initial_open=True)
    top, bottom = result.insertions
    assert result.html == f'<body class="x">{top.markup}<p>x</p>{bottom.markup}</body>'
    kinds = [CODEC.read_open(i.markup.split("/o/")[1].split('"')[0]).kind for i in (top, bottom)]
    assert kinds == ["initial_open", "open"]


def test_initial_open_pixel_without_body_goes_after_the_doctype() -> None:
    result = rewriter().rewrite("<!DOCTYPE html><p>x</p>", initial_open=True, track_opens=True)
    assert result.html.startswith("<!DOCTYPE html><img ")


def test_track_opens_off_adds_no_pixel() -> None:
    result = rewriter().rewrite("<body></body>", initial_open=True, track_opens=False)
    assert (result.html, result.insertions) == ("<body></body>", [])


def test_track_clicks_off_leaves_every_link_and_reports_why() -> None:
    html = '<body><a href="http://a.example/">x</a></body>'
    result = rewriter().rewrite(html, track_clicks=False, track_opens=False, honeypot=True)
    assert result.html == html
    assert result.links[0].reason is SkipReason.CLICK_TRACKING_OFF


def test_honeypot_is_one_hidden_link_to_the_tracking_hosts_robots_txt() -> None:
    result = rewriter().rewrite("<body><p>x</p></body>", honeypot=True, track_opens=False)
    (honeypot,) = result.insertions
    assert honeypot.kind == "honeypot"
    assert result.html == f"<body><p>x</p>{honeypot.markup}</body>"
    token = CODEC.read_click(honeypot.markup.split("/e/")[1].split('"')[0])
    assert (token.url, token.link) == ("http://t.brand.example/robots.txt", HONEYPOT_LINK)
    for part in ('aria-hidden="true"', 'tabindex="-1"', "display:none", "mso-hide:all", "></a>"):
        assert part in honeypot.markup


def test_rewriting_with_honeypot_and_pixels_twice_equals_once() -> None:
    options = {"honeypot": True, "initial_open": True, "message": "m"}
    once = rewriter().rewrite('<body><a href="http://a.example/">x</a></body>', **options)
    twice = rewriter().rewrite(once.html, **options)
    assert twice.html == once.html
    assert twice.insertions == []


def test_html_over_102_kb_after_rewriting_warns_about_clipping() -> None:
    html = "<body>" + "x" * (102 * 1024 - 100) + "</body>"  # the pixel pushes it over
    assert len(html) < 102 * 1024 < len(rewriter().rewrite(html).html)
    codes = [w.code for w in rewriter().rewrite(html).warnings]
    assert codes == ["html_clipped"]
    assert rewriter().rewrite(html, track_opens=False).warnings == []


def test_unterminated_link_tag_at_the_end_warns_and_is_left_alone() -> None:
    html = '<p>x</p><a href="http://a.example/'
    result = rewriter().rewrite(html, track_opens=False)
    assert result.html == html
    assert [(w.code, w.offset) for w in result.warnings] == [
        ("unterminated_tag", 8),
        ("html_truncated", 8),
    ]


def test_unparseable_url_warns() -> None:
    result, link = only_link('<a href="http://[::1/x">x</a>')
    assert link.reason is SkipReason.UNPARSEABLE
    assert [w.code for w in result.warnings] == ["unparseable_link"]


def test_text_part_urls_are_wrapped_and_named_by_position() -> None:
    result = rewriter().rewrite(text="Go to https://a.example/x. Or mailto:b@c.example")
    (link,) = result.links
    assert (link.part, link.name, link.url) == ("text", "text-1", "https://a.example/x")
    assert result.text == f"Go to {link.tracking_url}. Or mailto:b@c.example"


def test_a_control_character_after_a_text_url_ends_it_and_stays() -> None:
    result = rewriter().rewrite(text="http://a.example/\x00 and http://b.example/\x01x")
    first, second = result.links
    assert (first.url, second.url) == ("http://a.example/", "http://b.example/")
    assert result.text == f"{first.tracking_url}\x00 and {second.tracking_url}\x01x"


def test_both_parts_in_one_call() -> None:
    result = rewriter().rewrite('<a href="http://a.example/">x</a>', "http://b.example/")
    assert [(link.part, link.wrapped) for link in result.links] == [("html", True), ("text", True)]


def test_result_as_json_shape() -> None:
    data = rewriter().rewrite(text="http://b.example/ {{x}}").to_dict()
    assert set(data) == {"html", "text", "links", "warnings"}
    assert data["html"] is None
    assert set(data["links"][0]) == {
        "part", "name", "url", "wrapped", "reason", "unsubscribe", "tracking_url", "tag",
        "raw", "offset",
    }  # fmt: skip


def test_pixel_goes_before_a_comment_left_open_at_the_end_not_into_it() -> None:
    result = rewriter().rewrite("<p>x</p><!-- footer never closed")
    (pixel,) = result.insertions
    assert result.html == f"<p>x</p>{pixel.markup}<!-- footer never closed"


def test_size_of_html_with_undecodable_bytes_is_counted_without_raising() -> None:
    carried = "\udce9" * (103 * 1024)  # bytes the CLI could not decode, one byte each
    result = rewriter().rewrite("<body>" + carried + "</body>", track_opens=False)
    assert [w.code for w in result.warnings] == ["html_clipped"]
    lone = "\ud800" * 40_000  # not from surrogateescape: counted as 3 bytes each
    assert [w.code for w in rewriter().rewrite(lone, track_opens=False).warnings] == [
        "html_clipped"
    ]


@pytest.mark.parametrize(
    "shape",
    [
        "https://evil.example\\@{host}/e/{token}",  # a browser opens evil.example
        "https://user@{host}/e/{token}",
        "https://{host}/e/{token}?next=https://evil.example/",
        "https://{host}/e/{token}#x",
        "https://{host}:8443/e/{token}",
        "https://{host}/x/e/{token}",
    ],
)
def test_a_click_url_of_this_edge_in_another_shape_is_not_already_wrapped(shape: str) -> None:
    token = CODEC.sign_click(ACCOUNT, "https://a.example/x")
    href = shape.format(host="t.brand.example", token=token)
    result, link = only_link(f'<a href="{href}">x</a>')
    assert (link.wrapped, link.reason, link.url) == (True, None, href)
    assert result.html == f'<a href="{link.tracking_url}">x</a>'


def test_a_click_url_with_the_default_port_of_its_scheme_is_already_wrapped() -> None:
    token = CODEC.sign_click(ACCOUNT, "https://a.example/x")
    for href in (f"https://T.Brand.Example:443/e/{token}", f"http://t.brand.example:80/e/{token}"):
        _, link = only_link(f'<a href="{href}">x</a>')
        assert (link.reason, link.url) == (SkipReason.ALREADY_WRAPPED, "https://a.example/x")


@pytest.mark.parametrize(
    "href",
    [
        "https://a.example/?u=%7B%7Bid%7D%7D",
        "https://a.example/?u=%7b%7bid%7d%7d",
        "https://a.example/?e=*%7CEMAIL%7C*",
        "https://a.example/?e=%2A%7CEMAIL%7C%2A",
        "https://a.example/%5B%5Btoken%5D%5D",
        "https://a.example/$%7Bpath%7D",
        "https://a.example/%7B%25 url 'x' %25%7D",
        "https://a.example/?s=%25%25unsub%25%25",
    ],
)
def test_percent_encoded_template_placeholders_are_skipped_with_a_warning(href: str) -> None:
    result, link = only_link(f'<a href="{href}">x</a>')
    assert (link.wrapped, link.reason) == (False, SkipReason.PLACEHOLDER)
    assert [w.code for w in result.warnings] == ["placeholder"]


@pytest.mark.parametrize(
    "href", ["https://a.example/?q=%7B%22a%22%3A1%7D", "https://a.example/?d=50%25%20off"]
)
def test_escapes_that_only_look_like_placeholders_are_wrapped(href: str) -> None:
    _, link = only_link(f'<a href="{href}">x</a>')
    assert (link.wrapped, link.reason, link.url) == (True, None, href)


def test_initial_open_pixel_goes_after_a_leading_bom_and_the_doctype() -> None:
    html = "\ufeff<!DOCTYPE html><p>x</p>"
    result = rewriter().rewrite(html, initial_open=True)
    top = next(i for i in result.insertions if i.kind == "initial_open")
    assert top.offset == len("\ufeff<!DOCTYPE html>")
    assert result.html.startswith(f"\ufeff<!DOCTYPE html>{top.markup}<p>x</p>")


def test_initial_open_pixel_never_goes_before_a_leading_bom() -> None:
    result = rewriter().rewrite("\ufeff<p>x</p>", initial_open=True)
    top = next(i for i in result.insertions if i.kind == "initial_open")
    assert top.offset == 1
    assert result.html.startswith(f"\ufeff{top.markup}<p>x</p>")


def test_a_reported_url_is_the_signed_url_when_it_ends_in_a_no_break_space() -> None:
    _, link = only_link('<a href="https://a.example/x&nbsp;">x</a>')
    token = CODEC.read_click(link.tracking_url.rpartition("/e/")[2])
    assert link.url == token.url == "https://a.example/x%C2%A0"


def test_an_internationalised_host_is_signed_and_reported_in_a_labels() -> None:
    _, link = only_link('<a href="https://Bücher.example/ä">x</a>')
    token = CODEC.read_click(link.tracking_url.rpartition("/e/")[2])
    assert link.url == token.url == "https://xn--bcher-kva.example/%C3%A4"


def test_a_reserved_msys_linkname_falls_back_to_a_valid_data_link_name() -> None:
    result, link = only_link('<a href="https://a.example/" data-msys-linkname="_x" '
                             'data-link-name="cta">x</a>')  # fmt: skip
    assert link.name == "cta"
    assert [w.code for w in result.warnings] == ["reserved_link_name"]


def test_more_links_than_the_cap_raise_too_many_links_for_either_part() -> None:
    capped = rewriter()
    capped.max_links = 3
    assert len(capped.rewrite('<a href="https://a.example/">x</a>' * 3).links) == 3
    with pytest.raises(TooManyLinks) as html:
        capped.rewrite('<a href="https://a.example/">x</a>' * 4)
    with pytest.raises(TooManyLinks) as text:
        capped.rewrite(text="https://a.example/ " * 4)
    assert str(html.value) == "the html part holds more than 3 links"
    assert (text.value.part, text.value.limit) == ("text", 3)


def test_served_hosts_leave_out_unverified_and_blocked_domains() -> None:
    entries = [
        TrackingHost("t.brand.example", 1, False, True),
        TrackingHost("new.brand.example", 1, False, False),
    ]
    assert served_hosts(entries) == frozenset({"t.brand.example"})


def test_pixels_go_into_the_body_every_client_sees_not_an_outlook_only_one() -> None:
    top = (
        '<html><head></head><!--[if mso]><body class="mso"><![endif]-->'
        "<!--[if !mso]><!--><body><!--<![endif]-->"
    )
    html = top + "<p>x</p></body><!--[if mso]></body><![endif]--></html>"
    result = rewriter().rewrite(html, initial_open=True)
    offsets = {i.kind: i.offset for i in result.insertions}
    after_body = len(top) - len("<!--<![endif]-->")
    assert offsets == {"initial_open": after_body, "open": html.index("</body>")}


# -- documents that end badly, read as a browser's tokenizer reads them -------------------


def warnings(result) -> list[tuple[str, int | None]]:
    return [(w.code, w.offset) for w in result.warnings]


def test_a_quote_never_closed_gets_the_pixel_before_its_tag_and_a_rerun_changes_nothing() -> None:
    # The browser reads to the end inside the value and drops the tag: a pixel appended
    # would never show, and its quotes would close the value on a second rewrite.
    html = '<p>hi <a href="https://x.example/a</p>'
    result = rewriter().rewrite(html)
    (pixel,) = result.insertions
    assert result.html == f"<p>hi {pixel.markup}" + html[len("<p>hi ") :]
    assert result.links == []
    assert warnings(result) == [("unterminated_tag", 6), ("html_truncated", 6)]
    assert rewriter().rewrite(result.html).html == result.html


@pytest.mark.parametrize("tail", ["<!--[if mso]><table><tr><td>", "<!-- note <b>y</b>"])
def test_a_document_ending_inside_a_comment_gets_the_pixel_before_it_and_a_warning(
    tail: str,
) -> None:
    result = rewriter().rewrite("<body><p>x</p>" + tail)
    (pixel,) = result.insertions
    assert result.html == f"<body><p>x</p>{pixel.markup}{tail}"
    assert warnings(result) == [("html_truncated", len("<body><p>x</p>"))]


def test_the_truncation_warning_says_what_was_left_open() -> None:
    (warning,) = rewriter().rewrite("<p>x</p><!--[if mso]><table>").warnings
    assert "an Outlook conditional comment (<!--[if …]>) never closed" in warning.message
    (warning,) = rewriter().rewrite("<p>x</p><style>p { color: red }").warnings
    assert "a <style> element never closed" in warning.message


def test_a_vml_link_in_a_conditional_comment_never_closed_is_left_alone() -> None:
    html = '<body><!--[if mso]><v:roundrect href="https://v.example/"><center>Buy</center>'
    result = rewriter().rewrite(html, track_opens=False)
    assert (result.html, result.links) == (html, [])


BASE = '<head><base href="https://shop.example/autumn/"></head>'


def test_relative_links_resolve_against_an_http_base_as_apple_mail_does_and_are_wrapped() -> None:
    html = BASE + '<a href="sale.html?x=1&amp;y=2">a</a><area href="/account">'
    result = rewriter().rewrite(html, track_opens=False)
    assert [(link.url, link.raw, link.wrapped) for link in result.links] == [
        ("https://shop.example/autumn/sale.html?x=1&y=2", "sale.html?x=1&amp;y=2", True),
        ("https://shop.example/account", "/account", True),
    ]
    token = CODEC.read_click(result.links[0].tracking_url.rpartition("/e/")[2])
    assert token.url == "https://shop.example/autumn/sale.html?x=1&y=2"
    assert rewriter().rewrite(result.html, track_opens=False).html == result.html


@pytest.mark.parametrize(
    ("href", "url"),
    [
        ("\\\\cdn.example\\a", "https://cdn.example/a"),  # "\" is "/" before the query
        ("///cdn.example/a", "https://cdn.example/a"),  # any run of slashes starts a host
        ("../../up?q=\\x", "https://shop.example/up?q=\\x"),
    ],
)
def test_relative_links_resolve_as_a_browser_parses_them(href: str, url: str) -> None:
    _, link = only_link(f'{BASE}<a href="{href}">x</a>')
    assert (link.url, link.wrapped) == (url, True)


@pytest.mark.parametrize(
    ("href", "reason"), [("#top", SkipReason.FRAGMENT), ("", SkipReason.EMPTY)]
)
def test_fragments_and_empty_links_stay_as_they_are_under_a_base(
    href: str, reason: SkipReason
) -> None:
    _, link = only_link(f'{BASE}<a href="{href}">x</a>')
    assert (link.url, link.reason) == (href, reason)


@pytest.mark.parametrize("base", ["/relative/", "ftp://files.example/", "https:///", ""])
def test_a_base_that_is_no_http_url_leaves_relative_links_relative(base: str) -> None:
    _, link = only_link(f'<base href="{base}"><a href="a.html">x</a>')
    assert (link.url, link.reason) == ("a.html", SkipReason.RELATIVE)
