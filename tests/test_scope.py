import ipaddress

import pytest

from agent.core.errors import ScopeError
from agent.core.scope import ScopeGuard, address_key


def test_inside_outside_and_excluded():
    guard = ScopeGuard(["198.18.0.0/24"], ["198.18.0.128/25"])
    assert guard.allows("198.18.0.10")
    assert not guard.allows("198.18.0.200")
    assert not guard.allows("198.18.1.1")
    with pytest.raises(ScopeError, match="outside the authorised scope"):
        guard.check("198.18.1.1")


def test_empty_scope_is_an_error_not_everything():
    with pytest.raises(ScopeError, match="empty"):
        ScopeGuard([])


def test_public_ranges_refused_unless_allowed():
    with pytest.raises(ScopeError, match="public"):
        ScopeGuard(["8.8.8.0/24"])
    assert ScopeGuard(["8.8.8.0/24"], allow_public=True).allows("8.8.8.8")
    # CGNAT space is not Python-"private" but is never public either.
    assert ScopeGuard(["100.64.0.0/24"]).allows("100.64.0.1")


def test_ipv6():
    guard = ScopeGuard(["fd00:1::/64"], ["fd00:1::/120"])
    assert guard.allows("fd00:1::1:1")
    assert not guard.allows("fd00:1::5")
    assert not guard.allows("198.18.0.1")
    with pytest.raises(ScopeError):
        ScopeGuard(["2001:4860::/32"])
    with pytest.raises(ScopeError, match="more than"):
        list(guard.addresses())


def test_addresses_skip_network_broadcast_and_exclusions():
    guard = ScopeGuard(["198.18.0.0/28"], ["198.18.0.4/30"])
    addresses = [str(a) for a in guard.addresses()]
    assert addresses == [
        "198.18.0.1",
        "198.18.0.2",
        "198.18.0.3",
        "198.18.0.8",
        "198.18.0.9",
        "198.18.0.10",
        "198.18.0.11",
        "198.18.0.12",
        "198.18.0.13",
        "198.18.0.14",
    ]


def test_networks_cut_exclusions_and_check_network():
    guard = ScopeGuard(["198.18.0.0/24"], ["198.18.0.0/25"])
    assert guard.networks() == [ipaddress.ip_network("198.18.0.128/25")]
    assert guard.check_network("198.18.0.0/26")
    with pytest.raises(ScopeError):
        guard.check_network("198.18.0.0/16")


def test_bad_cidr():
    with pytest.raises(ScopeError, match="not a valid CIDR"):
        ScopeGuard(["198.18.0.0/99"])


def test_addresses_match_the_per_address_definition():
    guard = ScopeGuard(
        ["198.18.0.0/24", "198.18.0.0/25", "198.18.3.4"],
        ["198.18.0.10", "198.18.0.0/30", "198.18.0.100/31", "198.18.0.250/29"],
    )
    expected = sorted(
        {
            ip
            for net in guard.include
            for ip in (net.hosts() if net.prefixlen < 31 else net)
            if guard.allows(ip)
        }
    )
    assert sorted(guard.addresses()) == expected


def test_address_spans_are_disjoint_ascending_and_join_overlapping_networks():
    guard = ScopeGuard(["198.18.0.0/24", "198.18.0.0/25", "198.18.1.0/24"], ["198.18.0.10"])
    v = int(ipaddress.ip_address("198.18.0.0"))
    assert guard.address_spans() == [
        (4, v + 1, v + 9),
        (4, v + 11, v + 254),
        (4, v + 257, v + 510),  # 198.18.0.255 and 198.18.1.0: broadcast and network
    ]


def test_address_key_orders_as_address_objects_do():
    v4 = ["198.18.0.10", "198.18.0.9", "10.0.0.1", "198.18.1.2", "255.255.255.255", "0.0.0.0"]
    v6 = ["2001:db8::10", "2001:db8::9", "::1", "fe80::1%eth0"]
    assert sorted(v4, key=address_key) == sorted(v4, key=ipaddress.ip_address)
    assert sorted(v6, key=address_key) == sorted(v6, key=ipaddress.ip_address)
    # Mixed versions sort (IPv4 first) where address objects refuse to compare.
    assert sorted(["2001:db8::1", "198.18.0.1"], key=address_key) == ["198.18.0.1", "2001:db8::1"]
    with pytest.raises(ValueError):
        address_key("not-an-address")
