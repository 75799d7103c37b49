from __future__ import annotations

from pathlib import Path

import pytest

from edge.events.classify import (
    FAST_CLICK,
    HONEYPOT,
    HUMAN,
    LINK_BURST,
    BehaviourRules,
    RuleFile,
    RuleFileError,
    RuleSet,
)
from edge.model.events import Verdict

IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
APPLE_MAIL = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = (
    "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:58.0) Gecko/20100101 Firefox/58.0 "
    "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
)
HOME_IP = "203.0.113.77"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return RuleSet.load()


def click(rules: RuleSet, ip: str, ua: str | None, **kw) -> Verdict:
    return rules.classify(type="click", client_ip=ip, user_agent=ua, **kw)


def open_(rules: RuleSet, ip: str, ua: str | None, **kw) -> Verdict:
    return rules.classify(type="open", client_ip=ip, user_agent=ua, **kw)


def test_a_person_in_a_browser_is_human(rules):
    assert click(rules, HOME_IP, CHROME) == HUMAN
    assert open_(rules, HOME_IP, APPLE_MAIL) == HUMAN


def test_apple_mpp_user_agent_marks_a_machine_open(rules):
    assert open_(rules, "198.51.100.4", "Mozilla/5.0") == Verdict("machine_open", "apple_mpp_ua")


def test_apple_address_marks_a_machine_open(rules):
    assert open_(rules, "17.58.63.12", APPLE_MAIL) == Verdict("machine_open", "apple_mpp_ip")


def test_apple_address_click_is_a_person_behind_private_relay(rules):
    assert click(rules, "17.58.63.12", IPHONE_SAFARI) == HUMAN


def test_gmail_image_proxy_is_a_proxied_open(rules):
    assert open_(rules, "66.249.84.10", GMAIL_PROXY) == Verdict("proxy_open", "gmail_proxy_ua")


def test_yahoo_image_proxy_is_a_proxied_open(rules):
    assert open_(rules, "98.137.10.1", YAHOO_PROXY) == Verdict("proxy_open", "yahoo_proxy_ua")


def test_microsoft_eop_address_click_is_a_scanner(rules):
    assert click(rules, "40.107.22.51", CHROME) == Verdict("scanner", "microsoft_eop_ip")


def test_microsoft_eop_ipv6_address_is_a_scanner(rules):
    assert click(rules, "2a01:111:f400:fe1e::3", CHROME) == Verdict("scanner", "microsoft_eop_ip")


def test_ipv4_mapped_ipv6_address_is_matched_as_ipv4(rules):
    assert click(rules, "::ffff:40.107.22.51", CHROME) == Verdict("scanner", "microsoft_eop_ip")


def test_proofpoint_address_click_is_a_scanner(rules):
    assert click(rules, "148.163.150.9", CHROME) == Verdict("scanner", "proofpoint_ip")


def test_mimecast_address_click_is_a_scanner(rules):
    assert click(rules, "205.139.110.61", CHROME) == Verdict("scanner", "mimecast_ip")


def test_barracuda_address_open_is_a_scanner(rules):
    assert open_(rules, "209.222.82.40", CHROME) == Verdict("scanner", "barracuda_ip")


def test_gateway_address_wins_over_apple_user_agent(rules):
    assert open_(rules, "104.47.5.5", "Mozilla/5.0") == Verdict("scanner", "microsoft_eop_ip")


def test_link_preview_user_agent_is_a_scanner(rules):
    ua = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
    assert click(rules, HOME_IP, ua) == Verdict("scanner", "link_preview_ua")


def test_headless_chrome_sandbox_is_a_scanner(rules):
    ua = CHROME.replace("Chrome/124", "HeadlessChrome/124")
    assert click(rules, "20.51.1.9", ua) == Verdict("scanner", "link_preview_ua")


def test_crawler_user_agent_is_a_bot(rules):
    ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    assert click(rules, "66.249.66.1", ua) == Verdict("bot", "crawlers_ua")


def test_scripted_client_is_a_bot(rules):
    assert click(rules, HOME_IP, "python-requests/2.31.0") == Verdict("bot", "crawlers_ua")


def test_head_request_is_a_scanner(rules):
    assert click(rules, HOME_IP, CHROME, method="HEAD") == Verdict("scanner", "head_request")


def test_prefetch_request_is_a_scanner(rules):
    assert click(rules, HOME_IP, CHROME, prefetch=True) == Verdict("scanner", "prefetch")


def test_honeypot_link_click_is_a_scanner(rules):
    assert click(rules, HOME_IP, CHROME, link="_honeypot") == HONEYPOT


def test_operator_directory_adds_rules(tmp_path: Path):
    (tmp_path / "acme_gateway.txt").write_text("verdict scanner\nip 192.0.2.0/24\n")
    rules = RuleSet.load(tmp_path)
    assert click(rules, "192.0.2.200", CHROME) == Verdict("scanner", "acme_gateway_ip")


def test_bad_rule_file_line_names_file_and_line():
    with pytest.raises(RuleFileError) as info:
        RuleFile.parse("x", "verdict scanner\nip 300.1.1.1/8\n", "x.txt")
    assert (info.value.path, info.value.line) == ("x.txt", 2)


def test_every_shipped_file_parses_with_a_verdict(rules):
    assert {f.name for f in rules.files} >= {
        "apple_mpp",
        "gmail_proxy",
        "yahoo_proxy",
        "microsoft_eop",
        "proofpoint",
        "mimecast",
        "barracuda",
        "link_preview",
        "crawlers",
    }


# Behaviour rules: sequences of (id, type, time) through one window.


def observe(rules: BehaviourRules, id: str, type: str, ts_ms: int, **kw):
    fields = {
        "account_id": 1,
        "message": "m1",
        "recipient": "r1",
        "link": None,
        "url": None,
        "client_ip": HOME_IP,
        "verdict": HUMAN,
    }
    fields.update(kw)
    return rules.observe(id=id, type=type, ts_ms=ts_ms, **fields)


def test_click_within_seconds_of_the_first_event_is_a_scanner():
    rules = BehaviourRules()
    observe(rules, "e1", "open", 1_000_000)
    assert observe(rules, "e2", "click", 1_001_500, link="buy") == (FAST_CLICK, [])


def test_click_a_minute_after_the_first_event_is_human():
    rules = BehaviourRules()
    observe(rules, "e1", "open", 1_000_000)
    assert observe(rules, "e2", "click", 1_060_000, link="buy") == (HUMAN, [])


def test_fast_click_rule_is_per_recipient():
    rules = BehaviourRules()
    observe(rules, "e1", "open", 1_000_000, recipient="r1")
    assert observe(rules, "e2", "click", 1_000_500, recipient="r2", link="buy") == (HUMAN, [])


def test_two_links_clicked_within_a_second_mark_the_whole_burst():
    rules = BehaviourRules()
    assert observe(rules, "c1", "click", 5_000_000, link="a") == (HUMAN, [])
    assert observe(rules, "c2", "click", 5_000_400, link="b") == (
        LINK_BURST,
        [("c1", LINK_BURST)],
    )
    assert observe(rules, "c3", "click", 5_000_900, link="c") == (LINK_BURST, [])


def test_the_same_link_clicked_twice_quickly_is_not_a_burst():
    rules = BehaviourRules()
    observe(rules, "c1", "click", 5_000_000, link="a")
    assert observe(rules, "c2", "click", 5_000_300, link="a") == (HUMAN, [])


def test_two_links_clicked_ten_seconds_apart_are_human():
    rules = BehaviourRules()
    observe(rules, "c1", "click", 5_000_000, link="a")
    assert observe(rules, "c2", "click", 5_010_000, link="b") == (HUMAN, [])


def test_links_clicked_from_two_addresses_are_not_a_burst():
    rules = BehaviourRules()
    observe(rules, "c1", "click", 5_000_000, link="a", client_ip="198.51.100.1")
    assert observe(rules, "c2", "click", 5_000_300, link="b") == (HUMAN, [])


def test_honeypot_click_relabels_the_addresses_earlier_clicks_on_the_message():
    rules = BehaviourRules()
    observe(rules, "c1", "click", 5_000_000, link="a")
    observe(rules, "c2", "click", 5_030_000, link="b")
    observe(rules, "x1", "click", 5_040_000, link="a", message="other")
    assert observe(rules, "hp", "click", 5_060_000, link="_honeypot", verdict=HONEYPOT) == (
        HONEYPOT,
        [("c1", HONEYPOT), ("c2", HONEYPOT)],
    )


def test_clicks_after_a_honeypot_from_that_address_are_scanner_clicks():
    rules = BehaviourRules()
    observe(rules, "hp", "click", 5_000_000, link="_honeypot", verdict=HONEYPOT)
    assert observe(rules, "c1", "click", 5_600_000, link="a") == (HONEYPOT, [])
    assert observe(rules, "c2", "click", 5_600_000, link="a", client_ip="198.51.100.9") == (
        HUMAN,
        [],
    )


def test_machine_clicks_are_never_relabelled_or_overridden():
    rules = BehaviourRules()
    bot = Verdict("bot", "crawlers_ua")
    assert observe(rules, "c1", "click", 5_000_000, link="a", verdict=bot) == (bot, [])
    # The bot's click still counts towards the burst, but keeps its own verdict.
    assert observe(rules, "c2", "click", 5_000_100, link="b") == (LINK_BURST, [])


def test_window_forgets_the_oldest_keys_beyond_its_bound():
    rules = BehaviourRules(max_keys=2)
    observe(rules, "e1", "open", 1_000_000, message="m1")
    observe(rules, "e2", "open", 1_000_000, message="m2")
    observe(rules, "e3", "open", 1_000_000, message="m3")
    # m1's first event was forgotten, so the fast-click rule cannot fire for it.
    assert observe(rules, "c1", "click", 1_000_500, message="m1", link="a") == (HUMAN, [])


def test_a_double_click_on_one_link_is_human():
    rules = BehaviourRules()
    observe(rules, "c1", "click", 5_000_000, link="a")
    assert observe(rules, "c2", "click", 5_000_250, link="a") == (HUMAN, [])


def test_a_replayed_click_is_not_a_burst_with_itself_or_with_later_clicks():
    rules = BehaviourRules()
    observe(rules, "c1", "click", 5_000_000, link="a")
    observe(rules, "c2", "click", 5_060_000, link="b")
    assert observe(rules, "c1", "click", 5_000_000, link="a") == (HUMAN, [])


def test_address_ranges_match_by_longest_prefix_whatever_their_first_byte():
    import ipaddress

    from edge.events.classify import AddressMatcher

    nets = [("10.0.0.0/8", "a"), ("10.1.0.0/16", "b"), ("2001:db8::/32", "c"), ("224.0.0.0/4", "d")]
    matcher = AddressMatcher((ipaddress.ip_network(n), label) for n, label in nets)
    assert [
        matcher.match(a)
        for a in ("10.9.9.9", "10.1.2.3", "11.0.0.1", "239.1.2.3", "2001:db8::1", "2001:db9::1")
    ] == ["a", "b", None, "d", "c", None]
    assert matcher.match("::ffff:10.1.2.3") == "b"  # an IPv4-mapped address is the IPv4 one
    without_short = AddressMatcher((ipaddress.ip_network(n), label) for n, label in nets[:3])
    assert [without_short.match(a) for a in ("10.1.2.3", "11.0.0.1", "239.1.2.3")] == [
        "b",
        None,
        None,
    ]
    assert matcher.match("not an address") is None
