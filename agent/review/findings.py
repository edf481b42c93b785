"""The review's findings: one table of checks over a ``RuleBase``, each citing its evidence.

Finding ids are a contract (issue 17): reports, JSON consumers and the suggested fixes key
on them. Every finding names the device, its subject (a rule id, an interface, a user, a
proposal) and the exact config lines it rests on. docs/review.md documents each one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agent.review import analysis, reach
from agent.review.analysis import protocol_number
from agent.review.model import PORT_ANY, Rule, RuleBase
from agent.review.reach import internet_exposure, untrusted_side

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
    for table, rule in reach.default_accepts(base):
        found.append(
            Finding("no_default_deny", device, table,
                    f"implicit rule {rule.id} accepts what no rule matches", rule.lines, table)
        )  # fmt: skip
    found.extend(_management(base, untrusted))
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


def _from_untrusted(zones: tuple[str, ...], untrusted: set[str]) -> bool:
    """The rule's source zones include the WAN side (or any zone)."""
    return (
        not zones or bool(set(zones) & untrusted) or any(z.lower() in ("any", "all") for z in zones)
    )


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
    if not rule.log and not _housekeeping(rule):
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


def _housekeeping(rule: Rule) -> bool:
    """Connection-tracking rules (accept established/related, drop invalid) and loopback
    rules: logging them would log every packet of every allowed connection or of the box
    talking to itself, so no log is right for them."""
    return reach.loopback_only(rule) or any(
        re.search(r"established|related|invalid", c, re.IGNORECASE) for c in rule.conditions
    )


def _management(base: RuleBase, untrusted: set[str]) -> list[Finding]:
    """cleartext_management per enabled telnet/http service; wan_management per service
    reachable from the WAN: on an untrusted interface or every interface, from any (or a
    public) source, and, where the model has the box's input filter, let in by it. Input
    rules that let the WAN reach a management port no service entry names are findings too
    (Linux, where sshd is not in the model)."""
    device, out = base.device, []
    named: set[str] = set()
    for m in base.management:
        protocol = m.protocol.lower()
        named.add(reach.ALIASES.get(protocol, protocol))  # its entry decides, on or off
        if not m.enabled or protocol not in MANAGEMENT_PROTOCOLS:
            continue
        where = m.interface or "every interface"
        if protocol in CLEARTEXT:
            out.append(
                Finding("cleartext_management", device, f"{protocol}@{where}", protocol, m.lines)
            )
        wide_open = m.sources.is_any or reach.public(m.sources.effective())
        if not wide_open or (m.interface and m.interface not in untrusted):
            continue
        letting_in = reach.management_allowed(base, untrusted, protocol)
        if letting_in == []:
            continue  # the input filter keeps the WAN out
        sources = "any source" if m.sources.is_any else "public sources"
        lines = m.lines + tuple(line for r in letting_in or () for line in r.lines)
        out.append(
            Finding("wan_management", device, f"{protocol}@{where}",
                    f"{protocol} on {where} from {sources}", lines,
                    data={"protocol": protocol, "interface": m.interface,
                          "rules": [r.id for r in letting_in or ()]})
        )  # fmt: skip
    for protocol in sorted(set(reach.MANAGEMENT_PORTS) - named):
        for rule in reach.management_allowed(base, untrusted, protocol) or ():
            if rule.implicit:
                continue  # an input chain accepting by default is no_default_deny's
            out.append(
                Finding("wan_management", device, rule.id,
                        f"{protocol} to the box from the WAN side", rule.lines, rule.table,
                        {"protocol": protocol, "rules": [rule.id]})
            )  # fmt: skip
    for protocol in sorted(CLEARTEXT & set(reach.MANAGEMENT_PORTS) - named):
        for rule in reach.management_open(base, protocol):
            out.append(Finding("cleartext_management", device, rule.id, protocol, rule.lines,
                               rule.table))  # fmt: skip
    return out
