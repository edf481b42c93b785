"""Suggested changes: for each finding that has one, the platform's own CLI lines.

Nothing here is ever sent to a device: ``keyturn review`` writes the text to a file for a
person to read, adapt and apply (issue 17: "suggested changes, not silent ones"). A fix that
needs a value keyturn does not know (the trusted admin network, the community string it never
stored) names a placeholder in angle brackets, and a finding a platform has no safe one-line
fix for gets a comment saying so rather than a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar

from agent.core.terminal import inert
from agent.review.findings import Finding, Review
from agent.review.model import Rule

TRUSTED = "<trusted-admin-network>"  # the placeholder a person fills in
# Findings whose fix is to take the rule out: it matches nothing (shadowed), decides nothing
# (redundant), is unused, or opens too much; the person decides which of the latter to keep.
DISABLE = frozenset({"rule_shadowed", "rule_redundant", "rule_unused", "any_any_permit"})
_CISCO = ("cisco_asa", "cisco_ios", "cisco_nxos", "arista_eos")


def suggest(result: Review) -> str:
    """The reviewable fix file for one device (empty findings: a header only)."""
    base = result.base
    comment = "!" if base.platform in _CISCO else "#"
    rules = {r.id: r for r in base.rules}
    out = [
        f"{comment} keyturn review: suggested changes for {base.device or '-'} ({base.platform})",
        f"{comment} NOT APPLIED. Read each block, adapt it and apply it yourself.",
    ]
    for finding in result.findings:
        lines = fix_lines(base.platform, finding, rules)
        if lines is None:
            continue
        # Subject and detail come from the device: one line, or a name could start one.
        head = inert(f"{finding.id}: {finding.subject} ({finding.detail})")
        out += ["", f"{comment} {head}", *lines]
    return "\n".join(out) + "\n"


def _pasteable(lines: list[str]) -> bool:
    """Whether lines built from device-derived names, ids and config text keep the shape
    the writer meant: a line break or other control character in a name would add a line of
    the config's choosing to what a person pastes."""
    return all(inert(line) == line for line in lines)


def fix_lines(platform: str, finding: Finding, rules: dict[str, Rule]) -> list[str] | None:
    """The lines for one finding; None when the finding needs no change (vpn_local_user is a
    list to go through, rule_disabled is already off)."""
    if finding.id in ("vpn_local_user", "rule_disabled"):
        return None
    writer = WRITERS.get(platform)
    if finding.id in DISABLE or finding.id == "internet_exposed_service":
        subjects = (
            finding.data.get("rules", [])
            if finding.id == "internet_exposed_service"
            else [finding.subject]
        )
        targets = [rules[s] for s in subjects if s in rules and not rules[s].implicit]
        if writer and targets:
            lines = [line for rule in targets for line in writer.disable(rule)]
            if _pasteable(lines):
                return lines
    elif writer:
        method: Callable | None = getattr(writer, finding.id, None)
        if method is not None:
            lines = method(finding, rules)
            if lines and _pasteable(lines):
                return lines
    mark = "!" if platform in _CISCO else "#"
    return [f"{mark} no automatic suggestion on {platform}; the evidence:"] + [
        f"{mark}   {inert(line)}" for line in finding.lines
    ]


def _management_target(finding: Finding) -> tuple[str, str]:
    protocol, _, interface = finding.subject.partition("@")
    return protocol, "" if interface == "every interface" else interface


def _quotable(name: str) -> bool:
    # FortiOS reads "..." up to the next quote: a name with its own quote or backslash would
    # end the string early (and what follows it would be read as more of the command).
    return bool(name) and '"' not in name and "\\" not in name


class Fortinet:
    @staticmethod
    def _policy(rule: Rule, settings: list[str]) -> list[str]:
        vdom, _, _ = rule.table.rpartition("/")
        body = ["config firewall policy", f"    edit {rule.id}"]
        body += [f"        {s}" for s in settings] + ["    next", "end"]
        return ["config vdom", f"edit {vdom}", *body, "end"] if vdom else body

    def disable(self, rule: Rule) -> list[str]:
        return self._policy(rule, ["set status disable"])

    def rule_no_log(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        rule = rules.get(finding.subject)
        return self._policy(rule, ["set logtraffic all"]) if rule else []

    def _unselect(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        protocol, interface = _management_target(finding)
        if not _quotable(interface):
            return []
        return [
            "config system interface",
            f'    edit "{interface}"',
            f"        unselect allowaccess {protocol}",
            "    next",
            "end",
        ]

    wan_management = cleartext_management = _unselect

    def vpn_weak_crypto(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        kind, _, name = finding.subject.partition(" ")
        if kind not in ("phase1", "phase2") or not _quotable(name):
            return []
        return [
            "# the peer must offer the same proposal: change both ends together",
            f"config vpn ipsec {kind}-interface",
            f'    edit "{name}"',
            "        set proposal aes256-sha256",
            "        set dhgrp 14",
            "    next",
            "end",
        ]


class CiscoAsa:
    def disable(self, rule: Rule) -> list[str]:
        # Re-entering an access-list entry with 'inactive' turns it off in place, keeping
        # its position (removing and re-adding would move it to the end).
        return [f"{line} inactive" for line in rule.lines if line.startswith("access-list ")]

    def rule_no_log(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        rule = rules.get(finding.subject)
        return (
            [f"{line} log" for line in rule.lines if line.startswith("access-list ")]
            if rule
            else []
        )

    def _no(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        protocol, interface = _management_target(finding)
        out = [f"no {line}" for line in finding.lines if line.split()[:1] == [protocol]]
        if out and interface:
            out.append(f"{protocol} {TRUSTED} {interface}")
        return out

    wan_management = cleartext_management = _no


class CiscoIos:
    def disable(self, rule: Rule) -> list[str]:
        ace = rule.lines[-1].strip() if rule.lines else ""
        if not ace or ace.startswith("access-list "):
            return []  # a numbered ACL: 'no access-list N' would delete all of it
        return [f"ip access-list extended {rule.table}", f" no {ace}"]

    def cleartext_management(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        protocol, _ = _management_target(finding)
        if protocol == "telnet":
            return ["line vty 0 15", " transport input ssh"]
        if protocol == "http":
            return ["no ip http server"]
        return []


class Junos:
    @staticmethod
    def _policy(rule: Rule) -> str:
        name = rule.name or rule.id.rsplit(" ", 1)[-1]
        if "->" in rule.table:
            src, dst = rule.table.split("->", 1)
            return f"security policies from-zone {src} to-zone {dst} policy {name}"
        return f"security policies global policy {name}"

    def disable(self, rule: Rule) -> list[str]:
        return [f"deactivate {self._policy(rule)}"]

    def rule_no_log(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        rule = rules.get(finding.subject)
        return [f"set {self._policy(rule)} then log session-close"] if rule else []

    def _delete(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        return [
            re.sub(r"^set ", "delete ", line) for line in finding.lines if line.startswith("set ")
        ]

    cleartext_management = snmp_default_community = _delete

    def wan_management(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        # Only the zone's host-inbound permission: deleting 'system services ssh' itself
        # would lock every administrator out, not just the WAN side.
        return [re.sub(r"^set ", "delete ", line) for line in finding.lines
                if line.startswith("set ") and "host-inbound-traffic" in line]  # fmt: skip

    def vpn_weak_crypto(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        words = finding.subject.split()
        if len(words) != 3 or words[1] != "proposal" or words[0] not in ("ike", "ipsec"):
            return []
        head = f"set security {words[0]} proposal {words[2]}"
        auth = "sha-256" if words[0] == "ike" else "hmac-sha-256-128"
        out = [
            "# the peer must offer the same proposal: change both ends together",
            f"{head} encryption-algorithm aes-256-cbc",
            f"{head} authentication-algorithm {auth}",
        ]
        return out + ([f"{head} dh-group group14"] if words[0] == "ike" else [])  # fmt: skip


class RouterOs:
    _SERVICE: ClassVar[dict[str, str]] = {"http": "www", "https": "www-ssl"}

    @staticmethod
    def _number(rule: Rule) -> str | None:
        match = re.fullmatch(r"filter (\d+)", rule.id)
        return match.group(1) if match else None

    def disable(self, rule: Rule) -> list[str]:
        number = self._number(rule)
        if number is None:
            return []
        return [
            "# numbers as '/ip firewall filter print' shows them",
            f"/ip firewall filter disable numbers={number}",
        ]

    def rule_no_log(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        rule = rules.get(finding.subject)
        number = self._number(rule) if rule else None
        return [f"/ip firewall filter set numbers={number} log=yes"] if number else []

    def wan_management(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        protocol, _ = _management_target(finding)
        return [f"/ip service set {self._SERVICE.get(protocol, protocol)} address={TRUSTED}"]

    def cleartext_management(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        protocol, _ = _management_target(finding)
        return [f"/ip service disable {self._SERVICE.get(protocol, protocol)}"]

    def no_default_deny(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        chain = finding.subject.split("/", 1)[-1]
        return [
            "# first accept established/related and your management access, or you lock "
            "yourself out",
            f'/ip firewall filter add chain={chain} action=drop comment="default deny"',
        ]


class Linux:
    def disable(self, rule: Rule) -> list[str]:
        out = []
        for line in rule.lines:
            if line.startswith("-A "):
                table = rule.table.split("/")[0] if "/" in rule.table else "filter"
                out.append(f"iptables -t {table} -D {line[3:]}")
        if not out and rule.id.isdigit():
            out.append(f"nft delete rule {rule.table} handle {rule.id}")
        return out

    def no_default_deny(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        table, _, chain = finding.subject.rpartition("/")
        if table and chain.isupper():  # an iptables built-in chain
            return [
                "# first accept established/related and your management access",
                f"iptables -t {table} -P {chain} DROP",
            ]
        return [f"nft add chain {finding.subject.replace('/', ' ')} '{{ policy drop; }}'"]

    def cleartext_management(self, finding: Finding, rules: dict[str, Rule]) -> list[str]:
        protocol, _ = _management_target(finding)
        return ["systemctl disable --now telnet.socket"] if protocol == "telnet" else []


WRITERS = {
    "fortinet": Fortinet(),
    "cisco_asa": CiscoAsa(),
    "cisco_ios": CiscoIos(),
    "cisco_nxos": CiscoIos(),
    "arista_eos": CiscoIos(),
    "juniper_junos": Junos(),
    "mikrotik_routeros": RouterOs(),
    "linux": Linux(),
}
