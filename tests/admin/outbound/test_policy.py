"""The address policy: only globally routable addresses, unless a network is allowed."""

from __future__ import annotations

import pytest

from admin.outbound.policy import LOOPBACK_NETWORKS, AddressPolicy
from edge.config import ConfigError

REFUSED = "not a public address (EDGE_VERIFY_ALLOW_NETWORKS can allow its network)"

# No traffic is sent: these are only judged.
GLOBAL = ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "2a00:1450:4001::200e"]
INTERNAL = [
    "0.0.0.0",
    "10.0.0.1",
    "100.64.0.1",
    "127.0.0.1",
    "169.254.169.254",
    "172.16.5.4",
    "192.0.0.8",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.1.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    "224.0.0.251",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "fe80::1",
    "fe80::1%1",
    "fec0::1",
    "fd00::1",
    "ff02::1",
    "100::1",
    "2001:2::1",
    "2001:db8::1",
    "3fff::1",
    "5f00::1",
    "::a00:1",
    "::5db8:d822",
    "64:ff9b:1::5db8:d822",
]
#: IPv6 forms that carry an IPv4 address, judged by it.
EMBEDDED = [
    ("::ffff:93.184.216.34", True),
    ("::ffff:10.0.0.1", False),
    ("::ffff:169.254.169.254", False),
    ("::ffff:0:5db8:d822", True),  # IPv4-translated (SIIT)
    ("::ffff:0:a9fe:a9fe", False),  # ...of 169.254.169.254
    ("64:ff9b::5db8:d822", True),  # NAT64 well-known prefix
    ("64:ff9b::a00:1", False),
    ("2002:5db8:d822::1", True),  # 6to4
    ("2002:a00:1::1", False),
    ("2001:0:4136:e378:8000:63bf:a247:27dd", True),  # Teredo, client 93.184.216.34
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", False),  # Teredo, client 10.0.0.1
]


@pytest.mark.parametrize("address", GLOBAL)
def test_global_addresses_are_allowed(address):
    assert AddressPolicy().refusal(address) is None


@pytest.mark.parametrize("address", INTERNAL)
def test_addresses_that_are_not_globally_routable_are_refused(address):
    assert AddressPolicy().refusal(address) == f"refusing to connect to {address}: {REFUSED}"


@pytest.mark.parametrize(("address", "allowed"), EMBEDDED)
def test_ipv6_forms_carrying_an_ipv4_address_are_judged_by_it(address, allowed):
    refusal = AddressPolicy().refusal(address)
    assert refusal == (None if allowed else f"refusing to connect to {address}: {REFUSED}")


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"]
)
def test_loopback_allowance_covers_every_form_of_loopback(address):
    assert AddressPolicy(LOOPBACK_NETWORKS).refusal(address) is None


def test_allowed_networks_add_to_global_addresses_only():
    policy = AddressPolicy(["10.1.0.0/16"])
    assert policy.refusal("10.1.2.3") is None
    assert policy.refusal("10.2.0.1") == f"refusing to connect to 10.2.0.1: {REFUSED}"
    assert policy.refusal("127.0.0.1") == f"refusing to connect to 127.0.0.1: {REFUSED}"
    assert policy.refusal("8.8.8.8") is None


def test_refusal_names_the_setting_that_allows_networks():
    policy = AddressPolicy(setting="EDGE_WEBHOOK_ALLOW_NETWORKS")
    assert policy.refusal("10.0.0.1") == (
        "refusing to connect to 10.0.0.1: not a public address "
        "(EDGE_WEBHOOK_ALLOW_NETWORKS can allow its network)"
    )


def test_bad_network_is_a_config_error_naming_the_setting():
    with pytest.raises(ConfigError) as excinfo:
        AddressPolicy.from_setting("EDGE_WEBHOOK_ALLOW_NETWORKS", ["lan"])
    assert str(excinfo.value) == (
        "EDGE_WEBHOOK_ALLOW_NETWORKS: 'lan' does not appear to be an IPv4 or IPv6 network"
    )
