"""The FortiOS parser's reading of the box itself: ``allowaccess`` per interface with the
admins' trusted hosts, SNMP communities, the local users SSL-VPN or IPsec XAuth lets in, and
the phase1/phase2 proposals with the firmware defaults a backup leaves out."""

from __future__ import annotations

import re

from agent.review.model import (
    AddressSet,
    Management,
    Range,
    RuleBase,
    SnmpCommunity,
    VpnProposal,
    VpnUser,
    cidr_range,
    merge,
)
from agent.review.platforms._common import Reader
from agent.review.platforms._fortios_tree import Entry, Section

# Firmware defaults for tunnels that do not set them (FortiOS 6.4-7.4).
_P1_DEFAULT = ("aes128-sha256 aes256-sha256 aes128-sha1 aes256-sha1", "14 5")
_P2_DEFAULT = ("aes128-sha1 aes256-sha1 aes128-sha256 aes256-sha256 aes128gcm aes256gcm", "14 5")
_MGMT_TRUSTHOST = {"ssh", "https", "http", "telnet"}
_DEFAULT_COMMUNITIES = {"public", "private", "fortinet", "community", "snmp"}


class FortiPlane:
    """Mixin of the FortiOS parser (needs ``reader``, ``base``, ``sections``)."""

    reader: Reader
    base: RuleBase
    sections: dict[str, Section]

    def section(self, path: str) -> dict[str, Entry]:
        found = self.sections.get(path)
        return found.entries if found else {}

    def management(self) -> None:
        trusted: list[Range] = []
        admin_lines: list[str] = []
        for admin in self.section("system admin").values():
            hosts = [
                " ".join(v) for k, v in admin.settings.items() if re.fullmatch(r"trusthost\d+", k)
            ]
            admin_lines.extend(
                admin.cite("accprofile", *[k for k in admin.settings if k.startswith("trusthost")])
            )
            if not hosts:
                trusted.append((0, 2**32 - 1))
            for host in hosts:
                try:
                    trusted.append(cidr_range(host))
                except ValueError:
                    self.reader.warn(f"admin {admin.name!r}: unreadable trusthost", host)
        admin_sources = AddressSet(merge(trusted)) if self.section("system admin") else AddressSet()
        for entry in self.section("system interface").values():
            for protocol in entry.settings.get("allowaccess", []):
                sources = admin_sources if protocol in _MGMT_TRUSTHOST else AddressSet()
                lines = entry.cite("allowaccess") + (
                    tuple(admin_lines) if protocol in _MGMT_TRUSTHOST else ()
                )
                self.base.management.append(Management(protocol, entry.name, sources, True, lines))
        for entry in self.section("system snmp community").values():
            name = entry.get("name")
            self.base.snmp.append(
                SnmpCommunity(
                    is_default=name.lower() in _DEFAULT_COMMUNITIES,
                    access="ro",
                    lines=(entry.lines[0], "set name <redacted>"),
                )
            )

    def vpn(self) -> None:
        users = self.section("user local")
        groups = self.section("user group")
        vpn_groups: dict[str, str] = {}
        direct: dict[str, str] = {}
        ssl = self.sections.get("vpn ssl settings")
        if ssl is not None and ssl.body.get("status", "enable") != "disable":
            rules = ssl.body.subs.get("authentication-rule")
            for rule in rules.entries.values() if rules else ():
                for group in rule.settings.get("groups", []):
                    vpn_groups[group] = "ssl-vpn"
                for user in rule.settings.get("users", []):
                    direct[user] = "ssl-vpn"
        for policy in self.section("firewall policy").values():
            if any(i.startswith("ssl.") for i in policy.settings.get("srcintf", [])):
                for group in policy.settings.get("groups", []):
                    vpn_groups[group] = "ssl-vpn"
                for user in policy.settings.get("users", []):
                    direct[user] = "ssl-vpn"
        for path in ("vpn ipsec phase1-interface", "vpn ipsec phase1"):
            for tunnel in self.section(path).values():
                if tunnel.get("authusrgrp"):
                    vpn_groups.setdefault(tunnel.get("authusrgrp"), "ipsec-xauth")
        for group, kind in vpn_groups.items():
            entry = groups.get(group)
            for member in entry.settings.get("member", []) if entry else []:
                direct.setdefault(member, kind)
        for name, kind in direct.items():
            user = users.get(name)
            if user is None:
                continue  # a remote (LDAP/RADIUS) user: not a local account of the box
            self.base.vpn_users.append(
                VpnUser(
                    name,
                    kind,
                    user.get("status", "enable") != "disable",
                    user.cite("type", "status"),
                )
            )
        for phase, default in (("phase1", _P1_DEFAULT), ("phase2", _P2_DEFAULT)):
            for path in (f"vpn ipsec {phase}-interface", f"vpn ipsec {phase}"):
                for entry in self.section(path).values():
                    self.base.vpn_proposals.append(_proposal(entry, phase, default))


def _proposal(entry: Entry, phase: str, default: tuple[str, str]) -> VpnProposal:
    proposals = entry.settings.get("proposal") or default[0].split()
    encryption, integrity = [], []
    for item in proposals:
        enc, _, auth = item.partition("-")
        encryption.append(enc)
        if auth:
            integrity.append(auth.removeprefix("prf"))
    groups: tuple[int, ...] = ()
    if phase == "phase1" or entry.get("pfs", "enable") != "disable":
        groups = tuple(
            int(g) for g in (entry.settings.get("dhgrp") or default[1].split()) if g.isdigit()
        )
    return VpnProposal(
        f"{phase} {entry.name}",
        tuple(dict.fromkeys(encryption)),
        tuple(dict.fromkeys(integrity)),
        groups,
        entry.cite("proposal", "dhgrp", "pfs"),
    )
