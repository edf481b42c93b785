"""What every platform parser shares: hostile-input hygiene, warnings, redaction, ports.

A configuration comes from a device or from a file an operator was handed: it may hold
terminal control sequences, megabyte lines, stanzas of a newer firmware, or credentials.
Every parser reads it through ``Reader``: lines are stripped of control characters and
length-capped, anything not understood becomes one line in ``RuleBase.warnings`` (capped,
redacted), and every line a model object cites goes through ``redact``.
"""

from __future__ import annotations

import re

from agent.core.terminal import inert
from agent.review.model import (
    PORT_ANY,
    Range,
    Rule,
    RuleBase,
    cidr_range,
    merge,
    redact_line,
)

MAX_CONFIG_CHARS = 64 * 1024 * 1024  # far above the largest real firewall export
MAX_LINE_CHARS = 8192  # a longer line is not configuration a parser should guess at
MAX_WARNINGS = 200
_WARNING_EXCERPT = 120


class Reader:
    """One parse: the RuleBase being filled and the warnings about what was not understood."""

    def __init__(self, platform: str, device: str) -> None:
        self.base = RuleBase(platform=platform, device=inert(device)[:200])
        self._dropped = 0

    def warn(self, message: str, line: str = "") -> None:
        warnings = self.base.warnings
        if len(warnings) >= MAX_WARNINGS:
            self._dropped += 1
            warnings[-1] = f"... and {self._dropped} more warnings"
            return
        if line:
            excerpt = redact_line(inert(line)).strip()
            if len(excerpt) > _WARNING_EXCERPT:
                excerpt = excerpt[:_WARNING_EXCERPT] + "..."
            message = f"{message}: {excerpt}"
        if len(warnings) == MAX_WARNINGS - 1:
            warnings.append(message)
            warnings.append("... and 0 more warnings")
            return
        warnings.append(message)

    def finish(self) -> RuleBase:
        """The rule base, its rule and NAT ids made unique: findings, fixes and the stored
        diff name a rule by its id, and hostile input may repeat one (a duplicated sequence
        number or handle); a repeat gets a suffix and a warning."""
        for items, kind in ((self.base.rules, "rule"), (self.base.nat, "NAT rule")):
            seen: set[str] = set()
            for item in items:
                if item.id in seen:
                    number = 2
                    while f"{item.id} #{number}" in seen:
                        number += 1
                    self.warn(f"{kind} id {item.id!r} repeated; renamed {item.id} #{number}")
                    item.id = f"{item.id} #{number}"
                seen.add(item.id)
        return self.base

    def lines(self, config: str) -> list[str]:
        """The config as inert lines (CRLF, ANSI/control characters, huge lines handled)."""
        if len(config) > MAX_CONFIG_CHARS:
            self.warn(f"configuration longer than {MAX_CONFIG_CHARS} characters; rest ignored")
            config = config[:MAX_CONFIG_CHARS]
        out = []
        for number, raw in enumerate(config.replace("\r\n", "\n").split("\n"), 1):
            if len(raw) > MAX_LINE_CHARS:
                self.warn(f"line {number} longer than {MAX_LINE_CHARS} characters ignored", raw)
                continue
            out.append(inert(_ANSI.sub("", raw)).rstrip())
        return out


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def implicit_rule(table: str, position: int, action: str, why: str, **extra) -> Rule:
    """A rule the vendor applies without a config line; its 'line' says so in words."""
    return Rule(
        id=f"{table}:implicit-{action}",
        table=table,
        position=position,
        action=action,
        implicit=True,
        lines=(f"(implicit) {why}",),
        **extra,
    )


ZERO = "0.0.0.0"  # noqa: S104 -- an address written in a config, never a socket bind


def prefix_length(mask: str) -> int:
    """'255.255.255.0' -> 24 (ValueError for a malformed mask)."""
    lo, hi = cidr_range(f"{ZERO} {mask}")
    return 32 - (hi - lo).bit_length()


def is_default_route(text: str) -> bool:
    """'0.0.0.0/0' or '0.0.0.0 0.0.0.0' (ValueError for a malformed address)."""
    return cidr_range(text) == (0, 2**32 - 1)


def subtract(ranges: tuple[Range, ...], remove: tuple[Range, ...]) -> tuple[Range, ...]:
    """``ranges`` minus ``remove`` (both merged)."""
    out: list[Range] = []
    for lo, hi in ranges:
        for rlo, rhi in remove:
            if rhi < lo or rlo > hi:
                continue
            if rlo > lo:
                out.append((lo, rlo - 1))
            lo = rhi + 1
            if lo > hi:
                break
        if lo <= hi:
            out.append((lo, hi))
    return tuple(out)


def ip_range(text: str) -> Range:
    """'10.0.0.1-10.0.0.9', a CIDR, 'a.b.c.d m.m.m.m' or a host -> range (ValueError if not)."""
    text = text.strip()
    if "-" in text and "/" not in text:
        lo, hi = (cidr_range(part)[0] for part in text.split("-", 1))
        if lo > hi:
            raise ValueError(f"empty range {text}")
        return lo, hi
    return cidr_range(text)


def wildcard_range(address: str, wildcard: str) -> Range | None:
    """A Cisco address + wildcard mask as one range, or None when the wildcard is not
    contiguous (such a set is not one range: the caller marks the rule approximate)."""
    base, wild = cidr_range(address)[0], cidr_range(wildcard)[0]
    if wild & (wild + 1):
        return None
    return base & ~wild & 0xFFFFFFFF, (base & ~wild & 0xFFFFFFFF) | wild


def complement_ports(ranges: tuple[Range, ...]) -> tuple[Range, ...]:
    return subtract(PORT_ANY, merge(list(ranges)))


# Port names as Cisco IOS/ASA/NX-OS/EOS print them in running configs (tcp and udp).
CISCO_PORTS: dict[str, int] = {
    "aol": 5190, "bgp": 179, "biff": 512, "bootpc": 68, "bootps": 67, "chargen": 19,
    "cifs": 3020, "citrix-ica": 1494, "cmd": 514, "ctiqbe": 2748, "daytime": 13,
    "discard": 9, "dnsix": 195, "domain": 53, "drip": 3949, "echo": 7, "exec": 512,
    "finger": 79, "ftp": 21, "ftp-data": 20, "gopher": 70, "h323": 1720, "hostname": 101,
    "http": 80, "https": 443, "ident": 113, "imap4": 143, "irc": 194, "isakmp": 500,
    "kerberos": 88, "klogin": 543, "kshell": 544, "ldap": 389, "ldaps": 636, "login": 513,
    "lotusnotes": 1352, "lpd": 515, "mobile-ip": 434, "nameserver": 42, "netbios-dgm": 138,
    "netbios-ns": 137, "netbios-ss": 139, "netbios-ssn": 139, "nfs": 2049, "nntp": 119,
    "non500-isakmp": 4500, "ntp": 123, "pcanywhere-data": 5631, "pcanywhere-status": 5632,
    "pim-auto-rp": 496, "pop2": 109, "pop3": 110, "pptp": 1723, "radius": 1645,
    "radius-acct": 1646, "rip": 520, "rsh": 514, "rtsp": 554, "secureid-udp": 5510,
    "sip": 5060, "smtp": 25, "snmp": 161, "snmptrap": 162, "sqlnet": 1521, "ssh": 22,
    "sunrpc": 111, "syslog": 514, "tacacs": 49, "talk": 517, "telnet": 23, "tftp": 69,
    "time": 37, "uucp": 540, "vxlan": 4789, "who": 513, "whois": 43, "www": 80,
    "xdmcp": 177, "lotus": 1352, "ms-sql": 1433, "rdp": 3389, "bfd": 3784, "bfd-echo": 3785,
    "msdp": 639, "z39-50": 210, "ups": 401, "vmnet": 175, "ldp": 646, "imap": 143,
}  # fmt: skip


def port_number(token: str, names: dict[str, int] = CISCO_PORTS) -> int:
    """A port written as a number or a well-known name (ValueError if neither)."""
    if token.isdigit():
        value = int(token)
        if value > 65535:
            raise ValueError(f"port {token}")
        return value
    if token.lower() in names:
        return names[token.lower()]
    raise ValueError(f"unknown port name {token!r}")


# IP protocol names a rule may carry instead of a number.
PROTOCOLS = {
    "ip": "any", "ipv4": "any", "any": "any", "all": "any", "tcp": "tcp", "udp": "udp",
    "icmp": "icmp", "esp": "50", "ah": "51", "gre": "47", "ospf": "89", "eigrp": "88",
    "pim": "103", "igmp": "2", "sctp": "132", "vrrp": "112", "ipinip": "4", "ipip": "4",
    "icmp6": "58", "ipv6-icmp": "58", "ipsec": "50", "pcp": "108", "nos": "94", "l2tp": "115",
    "igrp": "9", "snp": "109", "ahp": "51",
}  # fmt: skip


def protocol_name(token: str) -> str:
    """'tcp', 'udp', 'icmp', 'any' or the protocol number as text (ValueError if unknown)."""
    low = token.lower()
    if low in PROTOCOLS:
        return PROTOCOLS[low]
    if low.isdigit() and int(low) <= 255:
        return {"0": "any", "6": "tcp", "17": "udp", "1": "icmp"}.get(low, str(int(low)))
    raise ValueError(f"unknown protocol {token!r}")


def parse_duration(text: str) -> int | None:
    """Seconds in an uptime such as '12 days, 3 hours, 4 minutes', '1w2d3h4m5s',
    '10w2d 03:04', '2 years 3 weeks'; None when nothing is recognised."""
    units = {
        "y": 365 * 86400, "year": 365 * 86400, "w": 7 * 86400, "week": 7 * 86400,
        "d": 86400, "day": 86400, "h": 3600, "hour": 3600, "m": 60, "min": 60,
        "minute": 60, "s": 1, "sec": 1, "second": 1,
    }  # fmt: skip
    total, found = 0, False
    clock = re.search(r"(?<!\d)(\d+):(\d{2})(?::(\d{2}))?(?!\d)", text)
    if clock:
        total += int(clock.group(1)) * 3600 + int(clock.group(2)) * 60 + int(clock.group(3) or 0)
        text = text[: clock.start()] + text[clock.end() :]
        found = True
    for number, unit in re.findall(r"(\d+)\s*([a-zA-Z]+)", text):
        unit = unit.lower().rstrip("s") if len(unit) > 1 else unit.lower()
        if unit in units:
            total += int(number) * units[unit]
            found = True
    return total if found else None
