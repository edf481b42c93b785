"""The access-control entry grammar Cisco ASA, IOS, NX-OS and EOS share, over their objects.

``protocol source [source-ports] destination [destination-ports] [options]``, where an
address is ``any``/``any4``/``host A``/``A MASK``/``A/LEN``/``object X``/``object-group G``
and ports are ``eq``/``lt``/``gt``/``neq``/``range`` or a port object-group. The masks of
IOS/NX-OS/EOS ACLs are wildcards, ASA's are netmasks: the caller says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.review.model import PORT_ANY, AddressSet, Range, Service, cidr_range, merge
from agent.review.platforms._common import (
    CISCO_PORTS,
    complement_ports,
    port_number,
    protocol_name,
    wildcard_range,
)

# Words after the addresses that narrow an entry (kept as conditions) or only annotate it.
_OPTIONS_STOP = frozenset(
    """
    log log-input inactive time-range established dscp precedence tos fragments ttl counter
    match-all match-any option tracked reflect packet-length ack fin psh rst syn urg echo
    echo-reply unreachable time-exceeded packet-too-big redirect host-unreachable
    port-unreachable parameter-problem source-quench timestamp-request timestamp-reply
    traceroute info-request mask-request mask-reply administratively-prohibited user user-group
    security-group object-group-user nexthop1 nexthop2 nexthop3 ttl-exceeded addrgroup
    portgroup udf vlan http-method tcp-option-length l4-ecn
    """.split()  # noqa: SIM905 -- a word list reads best as one
)


@dataclass
class Objects:
    """Named objects a device defines, already expanded."""

    networks: dict[str, tuple[tuple[Range, ...], tuple[str, ...]]] = field(default_factory=dict)
    port_groups: dict[str, tuple[str, tuple[Range, ...]]] = field(default_factory=dict)
    services: dict[str, tuple[tuple[Service, ...], tuple[str, ...]]] = field(default_factory=dict)
    protocols: dict[str, tuple[str, ...]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # ASA `name A alias`
    interfaces: dict[str, tuple[Range, ...]] = field(default_factory=dict)
    ipv6: set[str] = field(default_factory=set)  # objects/groups holding IPv6 addresses only


@dataclass
class Ace:
    action: str
    services: tuple[Service, ...]
    sources: AddressSet
    destinations: AddressSet
    log: bool = False
    inactive: bool = False
    time_range: str | None = None
    conditions: list[str] = field(default_factory=list)


class AceError(ValueError):
    pass


class Ipv6Only(Exception):
    """The entry matches IPv6 only: out of this IPv4 model, left out without a warning."""


class _Tokens:
    def __init__(self, words: list[str]) -> None:
        self.words, self.i = words, 0

    def peek(self, ahead: int = 0) -> str:
        j = self.i + ahead
        return self.words[j] if j < len(self.words) else ""

    def take(self) -> str:
        if self.i >= len(self.words):
            raise AceError("entry ends early")
        self.i += 1
        return self.words[self.i - 1]


def _address(t: _Tokens, objects: Objects, wildcard: bool, conditions: list[str]) -> AddressSet:
    word = t.take()
    low = word.lower()
    if low in ("any", "any4"):
        return AddressSet(names=(word,))
    if low == "any6" or ":" in word:
        raise Ipv6Only
    if low == "host":
        host = objects.names.get(t.peek(), t.peek())
        t.take()
        if ":" in host:
            raise Ipv6Only
        return AddressSet((cidr_range(host),), names=(host,))
    if low in ("object", "object-group", "addrgroup"):
        name = t.take()
        if name in objects.ipv6:
            raise Ipv6Only
        if name not in objects.networks:
            raise AceError(f"undefined network object {name!r}")
        ranges, conds = objects.networks[name]
        conditions.extend(conds)
        return AddressSet(ranges, names=(name,))
    if low == "interface":
        name = t.take()
        return AddressSet(objects.interfaces.get(name, ()), names=(f"interface {name}",))
    if "/" in word:
        return AddressSet((cidr_range(word),), names=(word,))
    address = objects.names.get(word, word)
    mask = t.take()
    if wildcard:
        span = wildcard_range(address, mask)
        if span is None:
            conditions.append(f"non-contiguous wildcard {address} {mask}")
            return AddressSet(names=(f"{address} {mask}",))
        return AddressSet((span,), names=(f"{address} {mask}",))
    return AddressSet((cidr_range(f"{address} {mask}"),), names=(f"{address} {mask}",))


def _is_port(token: str) -> bool:
    return token.isdigit() or token.lower() in CISCO_PORTS


def _ports(t: _Tokens, objects: Objects) -> tuple[Range, ...] | None:
    """Ports after an address, or None when none are written. IOS XE, NX-OS and EOS accept
    several ports after ``eq``/``neq``."""
    op = t.peek().lower()
    if op in ("eq", "neq"):
        t.take()
        values = [port_number(t.take())]
        while t.peek() and _is_port(t.peek()):
            values.append(port_number(t.take()))
        spans = merge([(v, v) for v in values])
        return spans if op == "eq" else complement_ports(spans)
    if op == "lt":
        t.take()
        value = port_number(t.take())
        return ((0, value - 1),) if value else ()
    if op == "gt":
        t.take()
        value = port_number(t.take())
        return ((value + 1, 65535),) if value < 65535 else ()
    if op == "range":
        t.take()
        lo, hi = port_number(t.take()), port_number(t.take())
        return ((lo, hi),)
    if op in ("object-group", "portgroup") and t.peek(1) in objects.port_groups:
        t.take()
        return objects.port_groups[t.take()][1]
    return None


# Options taking arguments: a comparison (``ttl eq 255``, ``packet-length range 1 9``) or one word.
_COMPARED = {"ttl", "packet-length", "tcp-option-length"}
_ONE_ARGUMENT = {"dscp", "precedence", "tos", "option", "reflect", "nexthop1", "nexthop2",
                 "nexthop3", "user", "user-group", "security-group", "object-group-user",
                 "vlan", "udf", "http-method"}  # fmt: skip


def parse_ace(action: str, words: list[str], objects: Objects, wildcard: bool) -> Ace:
    """One entry after its action word; AceError (a ValueError) when it is not understood."""
    t = _Tokens(words)
    conditions: list[str] = []
    head = t.take()
    service_names: tuple[str, ...] = ()
    fixed: tuple[Service, ...] | None = None  # a service object: ports come with it
    protocols: tuple[str, ...]
    if head in ("object", "object-group") and t.peek() in objects.services:
        name = t.take()
        fixed, conds = objects.services[name]
        conditions.extend(conds)
        protocols, service_names = (), (name,)
    elif head == "object-group" and t.peek() in objects.protocols:
        name = t.take()
        protocols, service_names = objects.protocols[name], (name,)
    else:
        protocols = (protocol_name(head),)
    sources = _address(t, objects, wildcard, conditions)
    src_ports = _ports(t, objects)
    if src_ports is not None:
        conditions.append("source ports " + ",".join(f"{a}-{b}" for a, b in src_ports))
    destinations = _address(t, objects, wildcard, conditions)
    dst_ports = _ports(t, objects)
    ace = Ace(action, (), sources, destinations)
    while t.peek():
        word = t.take().lower()
        if word in ("log", "log-input"):
            ace.log = t.peek().lower() != "disable"
            while t.peek() and (t.peek().isdigit() or t.peek().lower() in _LOG_WORDS):
                t.take()
        elif word == "inactive":
            ace.inactive = True
        elif word == "time-range":
            ace.time_range = t.take()
        elif word == "object-group" and t.peek() in objects.services:
            t.take()  # an icmp-type group after an icmp entry
            conditions.append("icmp type group")
        elif word in _COMPARED:
            comparison = t.take().lower()
            values = [t.take(), t.take()] if comparison == "range" else [t.take()]
            conditions.append(f"{word} {comparison} {' '.join(values)}")
        elif word in _ONE_ARGUMENT:
            conditions.append(f"{word} {t.take()}")
        elif word in _OPTIONS_STOP or word.isdigit():
            if word == "established":
                conditions.append("established")
            elif word not in ("counter",):
                conditions.append(word)
        else:
            raise AceError(f"unknown word {word!r}")
    if fixed is not None:
        services = fixed
    else:
        ports = dst_ports if dst_ports is not None else PORT_ANY
        services = tuple(
            Service(
                p, ports if p in ("tcp", "udp", "tcp-udp") else PORT_ANY, ",".join(service_names)
            )
            for p in protocols
        )
        services = _split_tcp_udp(services)
    ace.services = services
    ace.conditions = conditions
    return ace


_LOG_WORDS = {
    "interval",
    "disable",
    "default",
    "emergencies",
    "alerts",
    "critical",
    "errors",
    "warnings",
    "notifications",
    "informational",
    "debugging",
}


def _split_tcp_udp(services: tuple[Service, ...]) -> tuple[Service, ...]:
    out = []
    for s in services:
        if s.protocol == "tcp-udp":
            out += [Service("tcp", s.ports, s.name), Service("udp", s.ports, s.name)]
        else:
            out.append(s)
    return tuple(out)
