"""The IOS family (IOS/IOS XE, NX-OS, EOS) ``show running-config`` -> RuleBase.

One reader for the three: ACLs (numbered, named standard/extended; NX-OS/EOS sequence
numbers), object-groups (IOS ``object-group network/service``, NX-OS ``object-group ip
address/port``), ``ip access-group`` bindings, vty ``access-class`` and ``transport input``,
the HTTP server, SNMP communities, IKE proposals. A platform module passes its ``Dialect``.

Semantics made explicit: an ACL filters only where ``ip access-group`` binds it (table = ACL
name, or ``'<acl> (in)'``/``'(out)'`` when bound both ways), ends with an implicit deny, and
its entries are numbered as ``show ip access-lists`` numbers them (10, 20... when the config
shows no sequence numbers); an interface with no ACL is not filtered (a router forwards).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.review.model import (
    IPV4_ANY,
    PORT_ANY,
    AddressSet,
    Interface,
    Management,
    Range,
    Rule,
    RuleBase,
    Service,
    SnmpCommunity,
    VpnProposal,
    cidr_range,
    merge,
)
from agent.review.platforms._cisco_ace import AceError, Ipv6Only, Objects, parse_ace
from agent.review.platforms._common import (
    Reader,
    implicit_rule,
    ip_range,
    is_default_route,
    parse_duration,
    port_number,
    prefix_length,
    protocol_name,
    redact_line,
    subtract,
    wildcard_range,
)

_DEFAULT_COMMUNITIES = {"public", "private", "cisco", "community", "snmp", "secret"}
_STANDARD_NUMBERS = (range(1, 100), range(1300, 2000))


@dataclass(frozen=True)
class Dialect:
    platform: str
    # What vty lines accept when the config names no `transport input` (IOS before 17: all).
    vty_default: tuple[str, ...] = ("telnet", "ssh")
    # Management services on unless the config turns them off (NX-OS/EOS: ssh).
    default_management: tuple[str, ...] = ()
    # Whether an entry `show ip access-lists` prints without a count had zero hits (IOS
    # omits zero counts) or is simply not counted (NX-OS/EOS without per-entry statistics).
    missing_count_is_zero: bool = True


def blocks(lines: list[str]) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("!"):
            continue
        if line[0] in " \t" and out:
            out[-1][1].append(line.strip())
        else:
            out.append((line.strip(), []))
    return out


def _mask_range(address: str, mask: str, wildcard: bool) -> Range | None:
    """An address with a netmask or a wildcard (told apart by shape; 0.0.0.0 and
    255.255.255.255 by the dialect's default)."""
    value = cidr_range(mask)[0]
    if value not in (0, 0xFFFFFFFF):
        wildcard = value & 0x80000000 == 0
    if wildcard:
        return wildcard_range(address, mask)
    return cidr_range(f"{address} {mask}")


class IosFamily:
    def __init__(self, reader: Reader, dialect: Dialect, lines: list[str]) -> None:
        self.reader, self.dialect, self.base = reader, dialect, reader.base
        self.blocks = blocks(lines)
        self.objects = Objects()
        self.acls: dict[str, list[str]] = {}
        self.acl_kind: dict[str, str] = {}
        self.bindings: dict[str, list[tuple[str, str]]] = {}
        self.vty_ranges: list[tuple[tuple[str, ...], str | None, list[str]]] = []
        self.routes: list[list[str]] = []

    def read(self) -> None:
        for head, children in self.blocks:
            words = head.split()
            try:
                self.statement(words, children, head)
            except (ValueError, IndexError, KeyError) as exc:
                self.reader.warn(f"not understood ({exc})", head)
        for route in self.routes:
            try:
                self.route(route)
            except (ValueError, IndexError) as exc:
                self.reader.warn(f"route not understood ({exc})", " ".join(route))
        self.rules()
        self.finish_management()

    def statement(self, words: list[str], children: list[str], head: str) -> None:
        first = words[0]
        if first == "object-group":
            self.object_group(words, children)
        elif words[:2] == ["ip", "access-list"] and len(words) > 2:
            kind = words[2] if words[2] in ("standard", "extended") else "extended"
            name = words[3] if words[2] in ("standard", "extended") else words[2]
            self.acl_kind[name] = kind
            self.acls.setdefault(name, []).extend(children)
        elif first == "access-list" and len(words) > 2 and words[1].isdigit():
            number = int(words[1])
            self.acl_kind[words[1]] = (
                "standard" if any(number in r for r in _STANDARD_NUMBERS) else "extended"
            )
            self.acls.setdefault(words[1], []).append(" ".join(words[2:]))
        elif first == "interface":
            self.interface(words[1], children, head)
        elif words[:2] == ["line", "vty"]:
            self.vty(children, head)
        elif words[:3] in (["ip", "http", "server"], ["ip", "http", "secure-server"]):
            self.http(words[2], True, head)
        elif words[:4] in (["no", "ip", "http", "server"], ["no", "ip", "http", "secure-server"]):
            self.http(words[3], False, head)
        elif words[:2] == ["snmp-server", "community"] and len(words) > 2:
            access = "rw" if "rw" in (w.lower() for w in words[3:]) else "ro"
            self.base.snmp.append(
                SnmpCommunity(
                    words[2].lower() in _DEFAULT_COMMUNITIES, access, (redact_line(head),)
                )
            )
        elif words[:2] == ["ip", "route"] and len(words) > 3:
            self.routes.append(words[2:])  # read once every interface address is known
        elif first == "crypto":
            self.crypto(words, children, head)
        elif first in ("feature", "management", "no"):
            self.features(words, children, head)

    # --- objects ----------------------------------------------------------------------
    def object_group(self, words: list[str], children: list[str]) -> None:
        kind = words[1]
        if kind == "ip" and len(words) > 3:  # NX-OS: object-group ip address|port NAME
            kind, name = {"address": "network", "port": "port"}.get(words[2], words[2]), words[3]
        else:
            name = words[2]
        entries = [c.split()[1:] if c.split()[0].isdigit() else c.split() for c in children]
        if kind == "network":
            ranges: list[Range] = []
            for parts in entries:
                if parts[0] == "host":
                    ranges.append(cidr_range(parts[1]))
                elif parts[0] == "range":
                    ranges.append(ip_range(f"{parts[1]}-{parts[2]}"))
                elif parts[0] == "group-object":
                    ranges.extend(self.objects.networks.get(parts[1], ((), ()))[0])
                elif "/" in parts[0]:
                    ranges.append(cidr_range(parts[0]))
                elif parts[0][0].isdigit() and len(parts) > 1:
                    span = _mask_range(
                        parts[0], parts[1], wildcard=self.dialect.platform != "cisco_ios"
                    )
                    ranges.extend([span] if span else [])
            self.objects.networks[name] = (merge(ranges), ())
        elif kind == "port":
            ports: list[Range] = []
            for parts in entries:
                if parts[0] == "eq":
                    ports.append((port_number(parts[1]),) * 2)
                elif parts[0] == "range":
                    ports.append((port_number(parts[1]), port_number(parts[2])))
            self.objects.port_groups[name] = ("tcp-udp", merge(ports))
        elif kind == "service":
            services: list[Service] = []
            conditions: list[str] = []
            for parts in entries:
                if parts[0] == "group-object":
                    services.extend(self.objects.services.get(parts[1], ((), ()))[0])
                elif parts[0] != "description":
                    services.extend(self.service(parts, conditions))
            self.objects.services[name] = (tuple(services), tuple(conditions))

    def service(self, parts: list[str], conditions: list[str]) -> list[Service]:
        proto = parts[0].lower()
        protos = ("tcp", "udp") if proto == "tcp-udp" else (protocol_name(proto),)
        ports: tuple[Range, ...] = PORT_ANY
        rest = parts[1:]
        if rest[:1] == ["source"]:
            conditions.append("source ports " + " ".join(rest[1:]))
            rest = []
        if rest[:1] == ["eq"]:
            ports = merge([(port_number(p),) * 2 for p in rest[1:]])
        elif rest[:1] == ["range"]:
            ports = ((port_number(rest[1]), port_number(rest[2])),)
        elif rest[:1] in (["gt"], ["lt"]):
            value = port_number(rest[1])
            ports = ((value + 1, 65535),) if rest[0] == "gt" else ((0, value - 1),)
        elif rest and proto == "icmp":
            conditions.append("icmp " + " ".join(rest))
        return [
            Service(p, ports if p in ("tcp", "udp") else PORT_ANY, " ".join(parts)) for p in protos
        ]

    # --- interfaces and bindings ------------------------------------------------------
    def interface(self, name: str, children: list[str], head: str) -> None:
        addresses: list[str] = []
        cited = [redact_line(head)]
        for child in children:
            parts = child.split()
            if parts[:2] == ["ip", "address"] and len(parts) > 2 and parts[2][0].isdigit():
                address = parts[2] if "/" in parts[2] else f"{parts[2]}/{prefix_length(parts[3])}"
                if "secondary" not in parts or not addresses:
                    addresses.append(address)
                cited.append(child)
            elif parts[:2] == ["ip", "access-group"] and len(parts) > 3:
                self.bindings.setdefault(parts[2], []).append((parts[3], name))
                cited.append(child)
        self.objects.interfaces[name] = tuple(cidr_range(a) for a in addresses[:1])
        self.base.interfaces.append(Interface(name, "", tuple(addresses), None, tuple(cited)))

    def route(self, words: list[str]) -> None:
        if "/" in words[0]:
            prefix, hop = words[0], words[1]
        else:
            prefix, hop = f"{words[0]} {words[1]}", words[2]
        if not is_default_route(prefix):
            return
        if hop[0].isdigit():
            address = cidr_range(hop)[0]
            hop = next(
                (
                    i.name
                    for i in self.base.interfaces
                    if any(cidr_range(a)[0] <= address <= cidr_range(a)[1] for a in i.addresses)
                ),
                "",
            )
        if hop and hop not in self.base.default_route_interfaces:
            self.base.default_route_interfaces += (hop,)

    # --- rules ------------------------------------------------------------------------
    def rules(self) -> None:
        for acl, bound in self.bindings.items():
            if acl not in self.acls:
                self.reader.warn(f"ip access-group binds {acl!r}, which is not defined")
                continue
            directions = sorted({d for d, _ in bound})
            for direction in directions:
                table = acl if len(directions) == 1 else f"{acl} ({direction})"
                ifaces = tuple(dict.fromkeys(i for d, i in bound if d == direction))
                zones = {"src_zones": ifaces} if direction == "in" else {"dst_zones": ifaces}
                self.acl_rules(acl, table, zones, "" if len(directions) == 1 else f" ({direction})")

    def entries(self, acl: str) -> list[tuple[int, str]]:
        """(sequence, entry text) as `show ip access-lists` numbers them; remarks left out."""
        out: list[tuple[int, str]] = []
        last = 0
        for text in self.acls.get(acl, []):
            words = text.split()
            if words[0].isdigit():
                last = int(words[0])
                words = words[1:]
            elif words[0] in ("permit", "deny"):
                last = (last // 10 + 1) * 10
            if words and words[0] in ("permit", "deny"):
                out.append((last, " ".join(words)))
        return out

    def acl_rules(self, acl: str, table: str, zones: dict, suffix: str) -> None:
        position = 0
        for seq, text in self.entries(acl):
            words = text.split()
            try:
                ace = parse_ace(words[0], self.ace_words(acl, words), self.objects, wildcard=True)
            except Ipv6Only:
                continue
            except (AceError, ValueError, IndexError) as exc:
                self.reader.warn(f"ACL {acl} entry not understood ({exc}); left out", text)
                continue
            self.base.rules.append(
                Rule(
                    id=f"{acl} {seq}{suffix}",
                    table=table,
                    position=position,
                    action="permit" if ace.action == "permit" else "deny",
                    sources=ace.sources,
                    destinations=ace.destinations,
                    services=ace.services,
                    log=ace.log,
                    enabled=not ace.inactive,
                    schedule=ace.time_range,
                    lines=(
                        redact_line(
                            f"ip access-list {acl}" if not acl.isdigit() else f"access-list {acl}"
                        ),
                        redact_line(text),
                    ),
                    conditions=tuple(ace.conditions),
                    **zones,
                )
            )
            position += 1
        why = f"an ACL denies what access-list {acl} does not permit"
        self.base.rules.append(implicit_rule(table, position, "deny", why, **zones))

    def ace_words(self, acl: str, words: list[str]) -> list[str]:
        """Extended entry words after the action; a standard entry rewritten as one."""
        if self.acl_kind.get(acl) != "standard":
            return words[1:]
        rest = words[1:]
        if rest and rest[0][0].isdigit() and (len(rest) == 1 or not rest[1][0].isdigit()):
            rest = ["host", *rest]  # a standard entry's lone address is a host
        source_len = 1 if rest[0] == "any" else 2
        return ["ip", *rest[:source_len], "any", *rest[source_len:]]

    # --- management plane -------------------------------------------------------------
    def permitted_sources(self, acl: str) -> AddressSet:
        """The sources an access-class ACL lets in: first match over the source ranges. An
        entry that also tests something else (a destination, a port) lets its permits in
        but removes nothing from later entries, so the answer errs towards more sources."""
        allowed: list[Range] = []
        remaining: tuple[Range, ...] = IPV4_ANY
        for _, text in self.entries(acl):
            words = text.split()
            try:
                ace = parse_ace(words[0], self.ace_words(acl, words), self.objects, wildcard=True)
            except Ipv6Only:
                continue
            except (AceError, ValueError, IndexError):
                self.reader.warn(f"access-class {acl} entry not understood", text)
                continue
            source = merge(list(ace.sources.effective()))
            if ace.action == "permit":
                allowed.extend(subtract(remaining, subtract(remaining, source)))
            if not ace.conditions and ace.destinations.is_any and ace.services == (Service(),):
                remaining = subtract(remaining, source)
        return AddressSet(merge(allowed), names=(acl,))

    def vty(self, children: list[str], head: str) -> None:
        protocols = self.dialect.vty_default
        acl = None
        cited = [redact_line(head)]
        for child in children:
            parts = child.split()
            if parts[:2] == ["transport", "input"]:
                protocols = tuple(p for p in parts[2:] if p != "none")
                if "all" in protocols:
                    protocols = ("telnet", "ssh")
                cited.append(child)
            elif parts[:1] == ["access-class"] and len(parts) > 2 and parts[2] == "in":
                acl = parts[1]
                cited.append(child)
        if self.dialect.vty_default and not any(c.startswith("transport input") for c in cited):
            cited.append(f"(default) transport input {' '.join(self.dialect.vty_default)}")
        self.vty_ranges.append((protocols, acl, cited))

    def finish_management(self) -> None:
        """Logins per vty range (sources from each range's access-class, resolved now that
        every ACL is known), then the services on by default (NX-OS/EOS ssh)."""
        seen = {m.protocol for m in self.base.management}
        for protocol in self.dialect.default_management:
            if protocol not in seen:
                line = f"(default) {protocol} enabled"
                self.base.management.append(Management(protocol, "", AddressSet(), True, (line,)))
        logins = ("telnet", "ssh")
        if self.dialect.vty_default:  # IOS: the vty lines are the login services
            for protocol in logins:
                ranges = [r for r in self.vty_ranges if protocol in r[0]]
                if ranges:
                    sources, cited = self.vty_sources(ranges)
                    self.base.management.append(Management(protocol, "", sources, True, cited))
        elif self.vty_ranges:  # NX-OS/EOS: `line vty` access-class on the enabled logins
            sources, cited = self.vty_sources([(logins, a, c) for _, a, c in self.vty_ranges])
            for m in self.base.management:
                if m.protocol in logins:
                    m.sources, m.lines = sources, (*m.lines, *cited)

    def vty_sources(self, ranges: list) -> tuple[AddressSet, tuple[str, ...]]:
        spans: list[Range] = []
        cited: list[str] = []
        for _, acl, lines in ranges:
            spans.extend(self.permitted_sources(acl).ranges if acl else IPV4_ANY)
            cited.extend(lines)
        return AddressSet(merge(spans)), tuple(dict.fromkeys(cited))

    def http(self, which: str, enabled: bool, head: str) -> None:
        protocol = "https" if which == "secure-server" else "http"
        self.base.management.append(
            Management(protocol, "", AddressSet(), enabled, (redact_line(head),))
        )

    def features(self, words: list[str], children: list[str], head: str) -> None:
        """NX-OS `feature telnet|nxapi`, EOS `management telnet|api http-commands`."""
        if words[:2] == ["feature", "telnet"]:
            self.base.management.append(Management("telnet", "", AddressSet(), True, (head,)))
        elif words[:2] == ["feature", "nxapi"]:
            self.base.management.append(Management("https", "", AddressSet(), True, (head,)))
        elif words[:2] == ["no", "feature"] and words[2:3] == ["ssh"]:
            self.base.management = [m for m in self.base.management if m.protocol != "ssh"]
        elif words[0] == "management" and len(words) > 1:
            service = {"telnet": "telnet", "ssh": "ssh", "api": "https"}.get(words[1])
            if service and (service == "ssh" or "no shutdown" in children):
                on = "shutdown" not in children
                self.base.management.append(
                    Management(service, "", AddressSet(), on, (head, *children))
                )

    def crypto(self, words: list[str], children: list[str], head: str) -> None:
        fields: dict[str, list[str]] = {}
        for child in children:
            parts = child.split()
            fields.setdefault(parts[0], []).extend(parts[1:])
        if words[1:3] == ["isakmp", "policy"]:  # IOS defaults: des, sha, group 1
            encryption = fields.get("encr") or fields.get("encryption") or ["des"]
            integrity, groups = fields.get("hash") or ["sha"], fields.get("group") or ["1"]
        elif words[1:3] == ["ikev2", "proposal"]:
            encryption, integrity, groups = (
                fields.get("encryption", []),
                fields.get("integrity", []),
                fields.get("group", []),
            )
        elif words[1:3] == ["ipsec", "transform-set"] and len(words) > 4:
            encryption = [t for t in words[4:] if "hmac" not in t and t != "mode"]
            integrity, groups = [t for t in words[4:] if "hmac" in t], []
        else:
            return
        self.base.vpn_proposals.append(
            VpnProposal(
                " ".join(words[1:4]),
                tuple(encryption),
                tuple(integrity),
                tuple(int(g) for g in groups if g.isdigit()),
                (redact_line(head), *map(redact_line, children)),
            )
        )


def parse_family(dialect: Dialect, config: str, device: str) -> RuleBase:
    reader = Reader(dialect.platform, device)
    IosFamily(reader, dialect, reader.lines(config)).read()
    return reader.finish()


_HEADER = re.compile(
    r"^(?:(?:Extended|Standard|Reflexive|Role-based) )?IP (?:access list|Access List) (\S+)", re.I
)
_ENTRY = re.compile(r"^\s*(\d+) (?:permit|deny)\b")
_COUNT = re.compile(r"\((\d+) match(?:es)?\)|\[match[= ](\d+)")


def apply_family_counters(dialect: Dialect, base: RuleBase, output: str) -> None:
    """Per-entry counts from ``show ip access-lists`` and the uptime from ``show version``."""
    reader = Reader(base.platform, base.device)
    hits: dict[str, int | None] = {}
    acl, counted = "", dialect.missing_count_is_zero
    for line in reader.lines(output):
        header = _HEADER.match(line.strip())
        if header:
            acl, counted = header.group(1), dialect.missing_count_is_zero
            continue
        if re.match(r"^\s*(statistics|counters) per-entry", line):
            counted = True
            continue
        uptime = re.search(r"(?:uptime is|Uptime:)\s*(.+)", line, re.I)
        if uptime and base.counter_baseline_seconds is None:
            base.counter_baseline_seconds = parse_duration(uptime.group(1))
            continue
        entry = _ENTRY.match(line)
        if entry and acl:
            count = _COUNT.search(line)
            value = int(count.group(1) or count.group(2)) if count else (0 if counted else None)
            hits[f"{acl} {entry.group(1)}"] = value
    for rule in base.rules:
        key = re.sub(r" \((in|out)\)$", "", rule.id)
        if key in hits:
            rule.hits = hits[key]
    base.warnings.extend(reader.base.warnings)
