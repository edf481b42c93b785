"""What the WAN side can reach: the untrusted interfaces, port forwards an allowing rule lets
through, management services the box's input filter lets in, and tables that accept what no
rule matches. Each question is a first-match walk of one query box through a table.

A rule with a schedule or ``conditions`` counts as matching in these walks (the worst case
for exposure) without taking its packets from the later rules, except a rule that only
matches packets of connections already established or related: it never admits a new
connection, so it takes no part in a walk.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from agent.review import analysis
from agent.review.analysis import PORT_PROTOCOLS, PROTO_ANY, Box, ZoneIndex, minus
from agent.review.model import IPV4_ANY, PORT_ANY, NatRule, Range, Rule, RuleBase, merge
from agent.review.text import address_text, ranges_text

# Services an internet-facing port forward should never expose (port -> name): remote
# desktops, file sharing, databases, cleartext logins and the management UIs of appliances.
SENSITIVE_PORTS: dict[int, str] = {
    20: "FTP data", 21: "FTP", 22: "SSH", 23: "Telnet", 135: "MS RPC", 137: "NetBIOS",
    139: "SMB", 161: "SNMP", 389: "LDAP", 445: "SMB", 636: "LDAPS", 873: "rsync",
    1433: "MS SQL", 1521: "Oracle", 2049: "NFS", 2375: "Docker API", 3306: "MySQL",
    3389: "RDP", 5432: "PostgreSQL", 5900: "VNC", 5985: "WinRM", 5986: "WinRM",
    6379: "Redis", 8080: "management UI", 8291: "Winbox", 8443: "management UI",
    9200: "Elasticsearch", 10000: "Webmin", 10443: "management UI", 27017: "MongoDB",
}  # fmt: skip
# The box's own management services and where they listen (protocol number, port).
MANAGEMENT_PORTS: dict[str, tuple[int, int]] = {
    "ssh": (6, 22), "telnet": (6, 23), "http": (6, 80), "https": (6, 443), "winbox": (6, 8291),
    "api": (6, 8728), "api-ssl": (6, 8729), "ftp": (6, 21), "snmp": (17, 161), "netconf": (6, 830),
}  # fmt: skip
# The names RouterOS gives two of them.
ALIASES = {"www": "http", "www-ssl": "https"}
_RETURN_ONLY = re.compile(r"established|related", re.IGNORECASE)
_LOOPBACK = re.compile(r"lo\d*|loopback\d*", re.IGNORECASE)
_INPUT = re.compile(r"(^|[\s/>-])input$", re.IGNORECASE)  # 'filter/input', 'inet filter input'


def untrusted_side(base: RuleBase, override: list[str] | None = None) -> tuple[set[str], str]:
    """Interface and zone names on the WAN side, and how they were decided: the site
    config's ``[review] untrusted`` when set, else interfaces the parser marked, the default
    route's interfaces and interfaces holding a public address (with their zones)."""
    if override:
        return set(override), "site config"
    names: set[str] = set(base.default_route_interfaces)
    for interface in base.interfaces:
        if interface.untrusted is False:
            continue
        if interface.untrusted or interface.name in names or _public(interface.addresses):
            names.add(interface.name)
    names |= {i.zone for i in base.interfaces if i.name in names and i.zone}
    return names, "inferred" if names else "unknown"


def _public(addresses: tuple[str, ...]) -> bool:
    for text in addresses:
        try:
            if ipaddress.ip_interface(text.replace(" ", "/")).ip.is_global:
                return True
        except ValueError:
            continue
    return False


def return_only(rule: Rule) -> bool:
    """The rule matches only packets of established or related connections."""
    return any(_RETURN_ONLY.search(c) for c in rule.conditions)


def tables(base: RuleBase) -> dict[str, list[Rule]]:
    out: dict[str, list[Rule]] = {}
    for rule in sorted(base.rules, key=lambda r: (r.table, r.position)):
        if rule.enabled:
            out.setdefault(rule.table, []).append(rule)
    return out


def walk(rules: list[Rule], zones: ZoneIndex, region: list[Box]):
    """(rule, the part of ``region`` it may decide) in first-match order, then what no rule
    surely decides."""
    decided = []
    for rule in rules:
        if not region:
            break
        if return_only(rule):
            continue
        boxes = analysis.rule_boxes(rule, zones)
        left, touched = minus(region, boxes)
        if touched:
            decided.append((rule, analysis.meet(region, boxes)))
            if analysis.certain(rule):  # else it may not match: later rules still decide
                region = left
    return decided, region


def _from_wan(zones: ZoneIndex, untrusted: set[str]) -> tuple[Range, ...]:
    """The zone numbers WAN traffic enters by: the untrusted names the table uses, and the
    'other' zone for those it does not name; every zone when the WAN side is unknown."""
    if not untrusted:  # unknown: every zone but the loopback
        loopback = {n for name, n in zones.number.items() if _LOOPBACK.fullmatch(name)}
        return merge([(n, n) for n in range(zones.other + 1) if n not in loopback])
    numbers = [zones.number[z] for z in untrusted if z in zones.number]
    if any(z not in zones.number for z in untrusted):
        numbers.append(zones.other)
    return merge([(n, n) for n in numbers])


def _allowed(base: RuleBase, untrusted: set[str], dst, protos, ports, only=None):
    """The permit rules that decide some WAN traffic to (dst, protos, ports), with the parts
    they allow; ``only`` limits the walk to some tables."""
    found: list[tuple[Rule, list[Box]]] = []
    for name, rules in tables(base).items():
        if only is not None and not only(name):
            continue
        zones = ZoneIndex(rules)
        query: Box = (_from_wan(zones, untrusted), ((0, zones.other),), IPV4_ANY, dst, protos,
                      ports)  # fmt: skip
        decided, _ = walk(rules, zones, [query])
        found += [(rule, part) for rule, part in decided if rule.action == "permit"]
    return found


def input_tables(base: RuleBase) -> bool:
    return any(_INPUT.search(r.table) for r in base.rules)


def management_open(base: RuleBase, protocol: str) -> list[Rule]:
    """The input-filter rules that let any interface but the loopback reach ``protocol``
    on the box (enabled, from somewhere: cleartext_management's question)."""
    protocol = ALIASES.get(protocol, protocol)
    if protocol not in MANAGEMENT_PORTS:
        return []
    number, port = MANAGEMENT_PORTS[protocol]
    found = _allowed(base, set(), IPV4_ANY, ((number, number),), ((port, port),),
                     only=lambda name: bool(_INPUT.search(name)))  # fmt: skip
    return list({id(rule): rule for rule, _ in found if not rule.implicit}.values())


def loopback_only(rule: Rule) -> bool:
    return bool(rule.src_zones) and all(_LOOPBACK.fullmatch(z) for z in rule.src_zones)


def management_allowed(base: RuleBase, untrusted: set[str], protocol: str) -> list[Rule] | None:
    """The input-filter rules that let WAN traffic from a public address (any source, or a
    range holding one) reach ``protocol`` on the box; None when the model has no input
    filter (the service entry alone then decides)."""
    protocol = ALIASES.get(protocol, protocol)
    if not input_tables(base) or protocol not in MANAGEMENT_PORTS:
        return None
    number, port = MANAGEMENT_PORTS[protocol]
    found = _allowed(base, untrusted, IPV4_ANY, ((number, number),), ((port, port),),
                     only=lambda name: bool(_INPUT.search(name)))  # fmt: skip
    return [rule for rule, part in found if any(public(b[2]) for b in part)]


def public(ranges: tuple[Range, ...]) -> bool:
    """Some address of ``ranges`` is a global (internet) one."""
    for lo, hi in ranges:
        for net in ipaddress.summarize_address_range(
            ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi)
        ):
            if net.is_global or any(sub.is_global for sub in _halves(net)):
                return True
    return False


def _halves(net: ipaddress.IPv4Network, depth: int = 4):
    """A network's subnets a few bits down: 0.0.0.0/0 is not 'global' as a whole, though
    most of it is."""
    if depth == 0 or net.prefixlen >= 32:
        return
    for sub in net.subnets():
        yield sub
        yield from _halves(sub, depth - 1)


def default_accepts(base: RuleBase) -> list[tuple[str, Rule]]:
    """(table, implicit rule) where an implicit accept decides some packet no explicit rule
    surely matches (the explicit rules' union does not cover the table's space). Output
    chains (the box's own traffic) are left out."""
    out = []
    for name, rules in tables(base).items():
        if "output" in name.lower():
            continue
        zones = ZoneIndex(rules)
        boxes = [analysis.rule_boxes(r, zones) for r in rules]
        full: Box = (((0, zones.other),), ((0, zones.other),), IPV4_ANY, IPV4_ANY, PROTO_ANY,
                     PORT_ANY)  # fmt: skip
        accepts = [r for r in rules if r.implicit and r.action == "permit"]
        if not accepts:
            continue
        explicit = [j for j, r in enumerate(rules) if not r.implicit and boxes[j]
                    and analysis.certain(r) and not return_only(r)]  # fmt: skip
        if not analysis.covers([full], explicit, boxes)[0]:
            out.append((name, accepts[0]))
    return out


def internet_exposure(base: RuleBase, untrusted: set[str]) -> list[dict[str, Any]]:
    """Every port forward / VIP on the WAN side that an allowing rule lets traffic through:
    the traffic from the untrusted zones (any zone when none is known) to the forward's
    internal or external address and ports, walked through every table in first-match order
    (vendors filter before or after the translation: both addresses are asked)."""
    out = []
    for nat in base.nat:
        if nat.zone and untrusted and nat.zone not in untrusted:
            continue  # a forward on an inside interface
        addresses = merge([*nat.internal.effective(), *nat.external.effective()])
        ports = merge([*nat.internal_ports, *nat.external_ports]) or PORT_ANY
        number = analysis.protocol_number(nat.protocol)
        protos = PROTO_ANY if number is None else ((number, number),)
        if number is not None and number not in PORT_PROTOCOLS:
            ports = PORT_ANY
        found = _allowed(base, untrusted, addresses, protos, ports)
        if not found:
            continue
        open_ports = merge([p for _, part in found for b in part for p in b[5]])
        sources = merge([s for _, part in found for b in part for s in b[2]])
        sensitive = sorted(
            {name for port, name in SENSITIVE_PORTS.items() if _has(port, open_ports)}
            if number in (None, 6, 17)
            else set()
        )
        allowing = list({id(rule): rule for rule, _ in found}.values())
        lines = [line for rule in allowing for line in rule.lines]
        out.append(_exposure(nat, [r.id for r in allowing], open_ports, sensitive, sources, lines))
    return out


def _has(value: int, ranges: tuple[Range, ...]) -> bool:
    return any(lo <= value <= hi for lo, hi in ranges)


def _exposure(nat: NatRule, rules, ports, sensitive, sources, lines) -> dict[str, Any]:
    return {
        "nat": nat.id,
        "zone": nat.zone,
        "external": address_text(nat.external.effective()),
        "internal": address_text(nat.internal.effective()),
        "protocol": nat.protocol,
        "ports": ranges_text(ports),
        "service": ", ".join(sensitive) or ranges_text(ports),
        "sensitive": sensitive,
        "rules": rules,
        "sources": "any source" if sources == IPV4_ANY else address_text(sources),
        "lines": [*nat.lines, *lines],
    }
