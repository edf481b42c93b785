"""One rule-base model for every firewall vendor keyturn reviews.

Each vendor parser turns what the device prints (or a backup of it) into a ``RuleBase``; the
analysis and the findings only ever see this model, so a vendor's semantics must be made
explicit here by its parser: implicit rules (a final deny, ASA security levels when no ACL is
bound, RouterOS chains that accept by default) are added as ``Rule(implicit=True)`` rows,
negations are ``AddressSet.negated``, and ``position`` is the first-match evaluation order
within ``table``.

Addresses and ports are inclusive integer ranges so that the shadow analysis can reason on
exact sets (the union of earlier rules), never on object names. Every model object keeps the
exact config ``lines`` it came from, with secrets already redacted by the parser
(``redact_line``), because findings cite them in reports.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

Range = tuple[int, int]  # inclusive

IPV4_ANY: tuple[Range, ...] = ((0, 2**32 - 1),)
PORT_ANY: tuple[Range, ...] = ((0, 65535),)
ACTIONS = ("permit", "deny")  # "reject", "drop", "deny" are all "deny"


def merge(ranges: list[Range] | tuple[Range, ...]) -> tuple[Range, ...]:
    """Sorted, non-overlapping, non-adjacent ranges."""
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def cidr_range(text: str) -> Range:
    """'10.0.0.0/8', '10.0.0.1', '10.0.0.0 255.0.0.0' -> the inclusive IPv4 integer range."""
    text = " ".join(text.split())
    if " " in text:
        address, mask = text.split(" ", 1)
        text = f"{address}/{mask}"
    net = ipaddress.IPv4Network(text, strict=False)
    return int(net.network_address), int(net.broadcast_address)


@dataclass(frozen=True)
class AddressSet:
    """A set of IPv4 addresses; ``names`` are the objects/groups as written (evidence only)."""

    ranges: tuple[Range, ...] = IPV4_ANY
    negated: bool = False
    names: tuple[str, ...] = ()

    @property
    def is_any(self) -> bool:
        return not self.negated and self.ranges == IPV4_ANY

    def effective(self) -> tuple[Range, ...]:
        """The ranges after negation."""
        if not self.negated:
            return self.ranges
        out, start = [], 0
        for lo, hi in self.ranges:
            if lo > start:
                out.append((start, lo - 1))
            start = hi + 1
        if start <= 2**32 - 1:
            out.append((start, 2**32 - 1))
        return tuple(out)


@dataclass(frozen=True)
class Service:
    """A protocol and destination ports. ``protocol`` is 'tcp', 'udp', 'icmp', 'any' or an IP
    protocol number as text; ``ports`` is PORT_ANY for port-less protocols."""

    protocol: str = "any"
    ports: tuple[Range, ...] = PORT_ANY
    name: str = ""  # the service object as written (evidence only)


SERVICE_ANY = (Service(),)


@dataclass
class Rule:
    """One filtering rule in first-match order within its ``table``.

    ``table`` names the ordered list the rule lives in: 'policy' (FortiOS), an ACL name bound
    somewhere (ASA/IOS), 'trust->untrust' (Junos zone pair), 'filter/forward' (RouterOS chain),
    'inet filter forward' (nftables). ``src_zones``/``dst_zones`` are zones or interfaces; an
    empty tuple means any.
    """

    id: str
    table: str
    position: int
    action: str  # one of ACTIONS
    sources: AddressSet = field(default_factory=AddressSet)
    destinations: AddressSet = field(default_factory=AddressSet)
    services: tuple[Service, ...] = SERVICE_ANY
    src_zones: tuple[str, ...] = ()
    dst_zones: tuple[str, ...] = ()
    log: bool = False
    enabled: bool = True
    hits: int | None = None
    schedule: str | None = None
    comment: str = ""
    name: str = ""
    lines: tuple[str, ...] = ()
    implicit: bool = False
    # Match conditions the model cannot express (connection state, users, a non-contiguous
    # wildcard, an FQDN object...), as text. The parser then widens the rule to what it can
    # express, so a rule with conditions matches AT MOST what the model shows: it may be
    # found shadowed, but it must never be used to shadow another rule.
    conditions: tuple[str, ...] = ()

    @property
    def approximate(self) -> bool:
        """The model shows a superset of what the rule matches (see ``conditions``)."""
        return bool(self.conditions)


@dataclass
class NatRule:
    """A destination NAT / VIP / port forward: traffic to ``external`` (on ``zone``) is sent to
    ``internal``."""

    id: str
    zone: str  # interface or zone the external address lives on ('' = any)
    external: AddressSet
    protocol: str  # 'tcp', 'udp', 'any'
    external_ports: tuple[Range, ...]
    internal: AddressSet
    internal_ports: tuple[Range, ...]
    lines: tuple[str, ...] = ()
    name: str = ""


@dataclass
class Management:
    """A management service of the box itself (ssh, https, http, telnet, snmp, ping, ...)
    reachable on ``interface`` (''= every interface) from ``sources``."""

    protocol: str
    interface: str = ""
    sources: AddressSet = field(default_factory=AddressSet)
    enabled: bool = True
    lines: tuple[str, ...] = ()


@dataclass
class SnmpCommunity:
    """The community string itself is a credential and is never kept; only whether it is a
    well-known default ('public', 'private', ...)."""

    is_default: bool
    access: str = "ro"  # 'ro' | 'rw'
    lines: tuple[str, ...] = ()


@dataclass
class VpnUser:
    name: str
    kind: str  # 'ssl-vpn', 'ipsec-xauth', 'anyconnect', 'l2tp', ...
    enabled: bool = True
    lines: tuple[str, ...] = ()


@dataclass
class VpnProposal:
    name: str
    encryption: tuple[str, ...] = ()
    integrity: tuple[str, ...] = ()
    dh_groups: tuple[int, ...] = ()
    lines: tuple[str, ...] = ()


@dataclass
class Interface:
    name: str
    zone: str = ""
    addresses: tuple[str, ...] = ()  # CIDRs as written, e.g. '203.0.113.2/30'
    untrusted: bool | None = None  # None: not known yet, inferred by the analysis
    lines: tuple[str, ...] = ()


@dataclass
class RuleBase:
    """Everything the review reads from one device."""

    platform: str
    device: str = ""  # host or file name
    rules: list[Rule] = field(default_factory=list)
    nat: list[NatRule] = field(default_factory=list)
    management: list[Management] = field(default_factory=list)
    snmp: list[SnmpCommunity] = field(default_factory=list)
    vpn_users: list[VpnUser] = field(default_factory=list)
    vpn_proposals: list[VpnProposal] = field(default_factory=list)
    interfaces: list[Interface] = field(default_factory=list)
    default_route_interfaces: tuple[str, ...] = ()  # where 0.0.0.0/0 leaves: the WAN side
    counter_baseline_seconds: int | None = None  # uptime or time since counters were cleared
    warnings: list[str] = field(default_factory=list)  # lines the parser did not understand


_SECRET_WORDS = re.compile(
    r"(?P<key>\b(?:password|passwd|secret|key|psksecret|pre-shared-key|community|"
    r"passphrase|auth-password|priv-password)\b\s+(?:ENC\s+|encrypted\s+|\d\s+)?)"
    r"(?P<value>\"[^\"]*\"|\S+)",
    re.IGNORECASE,
)
# Secrets written key=value (RouterOS), or behind a type word (Junos ascii-text, IOS
# 'key-string'), that the "keyword value" form above does not reach.
_KV_SECRET = re.compile(
    r"(?P<key>\b[\w-]*(?:password|passwd|secret|pre-shared-key|psk|passphrase|"
    r"private-key|key-string|community|pwd)=)(?P<value>\"(?:[^\"\\]|\\.)*\"|\S+)",
    re.IGNORECASE,
)
_TYPED_SECRET = re.compile(
    r"(?P<key>\b(?:ascii-text|hexadecimal|key-string|encrypted-password|"
    r"authentication-key|simple-password|[\w-]*pwd)\s+(?:\d\s+|ENC\s+)?)(?P<value>\"[^\"]*\"|\S+)",
    re.IGNORECASE,
)
# Words every credential form above contains: a line without any of them needs no regex.
_HINTS = ("pass", "secret", "key", "psk", "communit", "ascii-text", "hexadecimal", "pwd")


def redact_line(line: str) -> str:
    """A config line safe to cite: the value after a password/secret/key/community keyword
    (``key value``, ``key=value``, ``ascii-text "$9$..."``) is replaced, so evidence never
    carries a credential or its hash."""
    line = line.rstrip("\r\n")
    low = line.lower()
    if not any(hint in low for hint in _HINTS):
        return line
    # The typed forms first: the keyword form would take `ascii-text` itself for the value.
    line = _TYPED_SECRET.sub(lambda m: m.group("key") + "<redacted>", line)
    line = _SECRET_WORDS.sub(lambda m: m.group("key") + "<redacted>", line)
    return _KV_SECRET.sub(lambda m: m.group("key") + "<redacted>", line)
