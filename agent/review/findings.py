"""The review's findings: one table of checks over a ``RuleBase``, each citing its evidence.

Finding ids are a contract (issue 17): reports, JSON consumers and the suggested fixes key
on them. Every finding names the device, its subject (a rule id, an interface, a user, a
proposal) and the exact config lines it rests on. docs/review.md documents each one.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from agent.review import analysis
from agent.review.analysis import PORT_PROTOCOLS, Box, ZoneIndex, minus, protocol_number
from agent.review.model import (
    IPV4_ANY,
    PORT_ANY,
    Management,
    NatRule,
    Rule,
    RuleBase,
    merge,
)
from agent.review.text import address_text, ranges_text

# id -> (severity, one-line title); the order is the report's.
FINDINGS: dict[str, tuple[str, str]] = {
    "internet_exposed_service": (
        "critical", "A port forward / VIP lets the internet reach a sensitive service"),
    "any_any_permit": ("high", "A rule permits any source to any destination on any service"),
    "wan_management": ("high", "The firewall's management is reachable from the WAN or any source"),
    "cleartext_management": ("high", "Telnet or HTTP administration is enabled"),
    "snmp_default_community": ("high", "An SNMP community is a well-known default"),
    "vpn_weak_crypto": ("medium", "A VPN proposal uses DES/3DES, MD5/SHA-1 or a DH group below 14"),
    "no_default_deny": ("medium", "Traffic no rule matches is accepted (no default deny)"),
    "vpn_local_user": ("medium", "A remote-access VPN account is local to the firewall"),
    "rule_shadowed": ("medium", "No packet can reach this rule: earlier rules cover it"),
    "rule_redundant": ("low", "Removing this rule would change no packet's verdict"),
    "rule_unused": ("low", "The rule's hit counter is zero"),
    "rule_no_log": ("low", "The rule does not log"),
    "rule_disabled": ("info", "The rule is disabled"),
}  # fmt: skip

# Services an internet-facing port forward should never expose (port -> name), TCP unless
# the name says udp: remote desktops, file sharing, databases, cleartext logins and the
# management UIs of common appliances.
SENSITIVE_PORTS: dict[int, str] = {
    20: "FTP data", 21: "FTP", 22: "SSH", 23: "Telnet", 135: "MS RPC", 137: "NetBIOS",
    139: "SMB", 161: "SNMP (udp)", 389: "LDAP", 445: "SMB", 636: "LDAPS", 873: "rsync",
    1433: "MS SQL", 1521: "Oracle", 2049: "NFS", 2375: "Docker API", 3306: "MySQL",
    3389: "RDP", 5432: "PostgreSQL", 5900: "VNC", 5985: "WinRM", 5986: "WinRM",
    6379: "Redis", 8080: "management UI", 8291: "Winbox", 8443: "management UI",
    9200: "Elasticsearch", 10000: "Webmin", 10443: "management UI", 27017: "MongoDB",
}  # fmt: skip
MANAGEMENT_PROTOCOLS = frozenset(
    {"ssh", "https", "http", "telnet", "snmp", "winbox", "api", "api-ssl", "www", "www-ssl",
     "ftp", "fgfm", "netconf"}
)  # fmt: skip
CLEARTEXT = frozenset({"telnet", "http", "www", "ftp", "api"})
_WEAK_ENCRYPTION = re.compile(r"des|rc4|null", re.IGNORECASE)  # 'aes' does not contain 'des'
_WEAK_INTEGRITY = re.compile(r"md5|sha(?![-_]?(?:2|3|256|384|512))", re.IGNORECASE)
MIN_DH_GROUP = 14
DAY = 86400


@dataclass
class Finding:
    id: str
    device: str
    subject: str  # rule id, interface, user or proposal name
    detail: str
    lines: tuple[str, ...] = ()
    table: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return FINDINGS[self.id][0]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "title": FINDINGS[self.id][1],
            "device": self.device,
            "subject": self.subject,
            "table": self.table,
            "detail": self.detail,
            "lines": list(self.lines),
            "data": self.data,
        }


@dataclass
class Review:
    """One device's review: its findings, the internet exposure table and the analysis."""

    base: RuleBase
    findings: list[Finding]
    exposures: list[dict[str, Any]]
    untrusted: list[str]
    untrusted_source: str  # 'site config', 'inferred', 'unknown'


# ---- the untrusted side -----------------------------------------------------------------


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


def _from_untrusted(zones: tuple[str, ...], untrusted: set[str]) -> bool:
    return (
        not zones or bool(set(zones) & untrusted) or any(z.lower() in ("any", "all") for z in zones)
    )


# ---- checks -------------------------------------------------------------------------------


def review(base: RuleBase, untrusted_override: list[str] | None = None) -> Review:
    """Every finding for one device."""
    untrusted, source = untrusted_side(base, untrusted_override)
    device = base.device
    found: list[Finding] = []
    exposures = internet_exposure(base, untrusted)
    for exposure in exposures:
        if exposure["sensitive"]:
            found.append(
                Finding(
                    "internet_exposed_service",
                    device,
                    exposure["nat"],
                    f"{exposure['service']} on {exposure['internal']} reachable from "
                    f"{exposure['sources']} through {exposure['nat']} and rule(s) "
                    f"{', '.join(exposure['rules'])}",
                    tuple(exposure["lines"]),
                    data={k: exposure[k] for k in ("rules", "ports", "sensitive", "sources")},
                )
            )
    for rule in base.rules:
        found.extend(_rule_findings(device, rule, untrusted, base.counter_baseline_seconds))
    result = analysis.analyse(base)
    for s in result.shadowed:
        names = [r.id for r in s.covered_by]
        found.append(
            Finding(
                "rule_shadowed",
                device,
                s.rule.id,
                f"covered by the union of earlier rule(s) {', '.join(names)}",
                s.rule.lines + tuple(line for r in s.covered_by for line in r.lines),
                s.rule.table,
                {"covered_by": names},
            )
        )
    for r in result.redundant:
        names = [t.id for t in r.taken_over_by]
        found.append(
            Finding(
                "rule_redundant",
                device,
                r.rule.id,
                f"its packets would be decided the same way by rule(s) {', '.join(names)}",
                r.rule.lines,
                r.rule.table,
                {"taken_over_by": names},
            )
        )
    found.extend(_default_deny(base))
    found.extend(_management(device, base.management, untrusted))
    for snmp in base.snmp:
        if snmp.is_default:
            found.append(
                Finding(
                    "snmp_default_community",
                    device,
                    "snmp",
                    f"a default community with {snmp.access} access",
                    snmp.lines,
                    data={"access": snmp.access},
                )
            )
    for user in base.vpn_users:
        if user.enabled:
            found.append(
                Finding("vpn_local_user", device, user.name, f"{user.kind} account", user.lines)
            )
    for proposal in base.vpn_proposals:
        weak = weak_crypto(proposal.encryption, proposal.integrity, proposal.dh_groups)
        if weak:
            found.append(
                Finding(
                    "vpn_weak_crypto", device, proposal.name, ", ".join(weak), proposal.lines,
                    data={"weak": weak},
                )
            )  # fmt: skip
    order = {fid: n for n, fid in enumerate(FINDINGS)}
    found.sort(key=lambda f: (order[f.id], f.table, f.subject))
    return Review(base, found, exposures, sorted(untrusted), source)


def _rule_findings(
    device: str, rule: Rule, untrusted: set[str], baseline: int | None
) -> list[Finding]:
    if rule.implicit:
        return []
    if not rule.enabled:
        return [Finding("rule_disabled", device, rule.id, "disabled", rule.lines, rule.table)]
    out = []
    any_service = any(
        protocol_number(s.protocol) is None and tuple(s.ports) == PORT_ANY for s in rule.services
    )
    if (
        analysis.certain(rule)
        and rule.action == "permit"
        and rule.sources.is_any
        and rule.destinations.is_any
        and any_service
        and _from_untrusted(rule.src_zones, untrusted)
    ):
        zones = ",".join(rule.src_zones) or "any interface"
        out.append(
            Finding("any_any_permit", device, rule.id, f"from {zones}", rule.lines, rule.table)
        )
    if not rule.log:
        out.append(Finding("rule_no_log", device, rule.id, rule.action, rule.lines, rule.table))
    if rule.hits == 0:
        confidence, text = unused_confidence(baseline)
        out.append(
            Finding(
                "rule_unused",
                device,
                rule.id,
                f"0 hits {text}",
                rule.lines,
                rule.table,
                {"counter_baseline_seconds": baseline, "confidence": confidence},
            )
        )
    return out


def unused_confidence(baseline: int | None) -> tuple[str, str]:
    """How far a zero counter can be trusted: low under a week of counting (or unknown),
    medium under 90 days, high beyond."""
    if baseline is None:
        return "low", "(counter baseline unknown)"
    days = baseline / DAY
    level = "low" if days < 7 else "medium" if days < 90 else "high"
    return level, f"in {days:.1f} days of counting"


def weak_crypto(
    encryption: tuple[str, ...], integrity: tuple[str, ...], groups: tuple[int, ...]
) -> list[str]:
    weak = [e for e in encryption if _WEAK_ENCRYPTION.search(e)]
    weak += [i for i in integrity if _WEAK_INTEGRITY.search(i)]
    weak += [f"DH group {g}" for g in groups if g < MIN_DH_GROUP]
    return weak


def _management(device: str, entries: list[Management], untrusted: set[str]) -> list[Finding]:
    out = []
    for m in entries:
        protocol = m.protocol.lower()
        if not m.enabled or protocol not in MANAGEMENT_PROTOCOLS:
            continue
        where = m.interface or "every interface"
        if protocol in CLEARTEXT:
            out.append(
                Finding("cleartext_management", device, f"{protocol}@{where}", protocol, m.lines)
            )
        wide_open = m.sources.is_any or any(
            ipaddress.ip_address(lo).is_global or ipaddress.ip_address(hi).is_global
            for lo, hi in m.sources.effective()
        )
        on_wan = not m.interface or m.interface in untrusted
        if on_wan and wide_open:
            sources = "any source" if m.sources.is_any else "public sources"
            out.append(
                Finding(
                    "wan_management",
                    device,
                    f"{protocol}@{where}",
                    f"{protocol} on {where} from {sources}",
                    m.lines,
                    data={"protocol": protocol, "interface": m.interface},
                )
            )
    return out


# ---- first-match walks: exposure and the default verdict -------------------------------------


def _tables(base: RuleBase) -> dict[str, list[Rule]]:
    tables: dict[str, list[Rule]] = {}
    for rule in sorted(base.rules, key=lambda r: (r.table, r.position)):
        if rule.enabled:
            tables.setdefault(rule.table, []).append(rule)
    return tables


def _walk(rules: list[Rule], zones: ZoneIndex, region: list[Box]):
    """(rule, the part of ``region`` it may decide) in first-match order, then what no rule
    surely decides. A rule with a schedule or conditions counts as matching (worst case for
    exposure) without taking its packets from the later rules."""
    decided = []
    for rule in rules:
        if not region:
            break
        boxes = analysis.rule_boxes(rule, zones)
        left, touched = minus(region, boxes)
        if touched:
            decided.append((rule, analysis.meet(region, boxes)))
            if analysis.certain(rule):  # else it may not match: later rules still decide
                region = left
    return decided, region


def _default_deny(base: RuleBase) -> list[Finding]:
    """Tables where a packet no explicit rule matches is accepted by an implicit rule or falls
    off the table with no rule at all. Output chains (the box's own traffic) are left out."""
    out = []
    for table, rules in _tables(base).items():
        if "output" in table.lower():
            continue
        zones = ZoneIndex(rules)
        full: Box = (((0, zones.other),), ((0, zones.other),), IPV4_ANY, IPV4_ANY,
                     analysis.PROTO_ANY, PORT_ANY)  # fmt: skip
        explicit = [r for r in rules if not r.implicit]
        _, left = _walk(explicit, zones, [full])
        if not left:
            continue  # an explicit catch-all decides everything
        decided, rest = _walk([r for r in rules if r.implicit], zones, left)
        accepting = [r for r, _ in decided if r.action == "permit"]
        if accepting or rest:
            last = accepting[0] if accepting else (explicit[-1] if explicit else None)
            why = (
                f"implicit rule {accepting[0].id} accepts what no rule matches"
                if accepting
                else "no rule matches some traffic: the platform default applies"
            )
            out.append(
                Finding("no_default_deny", base.device, table, why,
                        last.lines if last else (), table)
            )  # fmt: skip
    return out


def internet_exposure(base: RuleBase, untrusted: set[str]) -> list[dict[str, Any]]:
    """Every port forward / VIP on the WAN side that an allowing rule lets traffic through:
    for each table, the traffic from the untrusted zones (any zone when none is known) to the
    forward's internal or external address and ports, walked in first-match order."""
    out = []
    for nat in base.nat:
        if nat.zone and untrusted and nat.zone not in untrusted:
            continue  # a forward on an inside interface
        addresses = merge([*nat.internal.effective(), *nat.external.effective()])
        ports = merge([*nat.internal_ports, *nat.external_ports]) or PORT_ANY
        proto_number = protocol_number(nat.protocol)
        protos = analysis.PROTO_ANY if proto_number is None else ((proto_number, proto_number),)
        if proto_number is not None and proto_number not in PORT_PROTOCOLS:
            ports = PORT_ANY
        allowing: list[Rule] = []
        allowed_ports: list[tuple[int, int]] = []
        sources: list[tuple[int, int]] = []
        for rules in _tables(base).values():
            zones = ZoneIndex(rules)
            names = [zones.number[z] for z in untrusted if z in zones.number]
            if not untrusted or any(z not in zones.number for z in untrusted):
                names.append(zones.other)
            src_zone = tuple(merge([(n, n) for n in names])) if untrusted else ((0, zones.other),)
            query: Box = (src_zone, ((0, zones.other),), IPV4_ANY, addresses, protos, ports)
            decided, _ = _walk(rules, zones, [query])
            for rule, allowed in decided:
                if rule.action != "permit":
                    continue
                allowing.append(rule)
                allowed_ports.extend(p for b in allowed for p in b[5])
                sources.extend(s for b in allowed for s in b[2])
        if not allowing:
            continue
        open_ports = merge(allowed_ports)
        sensitive = sorted(
            {name for port, name in SENSITIVE_PORTS.items() if _in(port, open_ports)}
            if proto_number in (None, 6, 17)
            else set()
        )
        out.append(_exposure(nat, allowing, open_ports, sensitive, merge(sources)))
    return out


def _in(value: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= value <= hi for lo, hi in ranges)


def _exposure(nat: NatRule, rules: list[Rule], ports, sensitive, sources) -> dict[str, Any]:
    return {
        "nat": nat.id,
        "zone": nat.zone,
        "external": address_text(nat.external.effective()),
        "internal": address_text(nat.internal.effective()),
        "protocol": nat.protocol,
        "ports": ranges_text(ports),
        "service": ", ".join(sensitive) or ranges_text(ports),
        "sensitive": sensitive,
        "rules": [r.id for r in rules],
        "sources": "any source" if sources == IPV4_ANY else address_text(sources),
        "lines": [*nat.lines, *(line for r in rules for line in r.lines)],
    }
