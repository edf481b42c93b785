"""Junos SRX configuration (set or hierarchical) -> RuleBase.

Semantics made explicit:
- security policies are evaluated per zone pair (table ``'from->to'``) in configuration
  order, then the global policies (table ``'global'``), then the default policy
  (``security policies default-policy``, deny-all unless set): the default is an implicit
  rule at the end of the global table, or of every zone-pair table when there is no global
  policy;
- addresses come from the global and zone address books (address-set nested), applications
  from ``applications`` and the junos-defaults this module knows; a policy's destination
  is the post-destination-NAT address (Junos looks policies up after destination NAT);
- ``security nat destination`` and ``static`` rule sets -> NatRule;
- management: a service of ``system services`` is reachable on an interface when its zone
  (or the interface) allows it in ``host-inbound-traffic system-services``; interfaces in no
  zone (fxp0, the out-of-band port) accept every enabled service;
- evidence lines are cited in the set form (``display set``) for both input forms.
"""

from __future__ import annotations

import re

from agent.review.model import (
    IPV4_ANY,
    PORT_ANY,
    AddressSet,
    Interface,
    Range,
    Rule,
    RuleBase,
    Service,
    cidr_range,
    merge,
    redact_line,
)
from agent.review.platforms._common import (
    Reader,
    implicit_rule,
    ip_range,
    is_default_route,
    parse_duration,
    port_number,
    protocol_name,
)
from agent.review.platforms._junos_plane import JunosPlane
from agent.review.platforms._junos_set import Statement, statements

PLATFORM = "juniper_junos"
CONFIG_COMMANDS = ("show configuration | display set",)
COUNTER_COMMANDS = ("show system uptime", "show security policies hit-count")

# junos-defaults applications (groups junos-defaults), the ones a review meets.
# junos-defaults applications (`show groups junos-defaults`) a review meets, as
# "name protocol/port ..."; junos-rdp is not in every release (harmless where absent).
_JUNOS_APPS_TABLE = """
junos-ftp tcp/21  |  junos-tftp udp/69  |  junos-ssh tcp/22
junos-telnet tcp/23  |  junos-smtp tcp/25  |  junos-http tcp/80
junos-https tcp/443  |  junos-pop3 tcp/110  |  junos-imap tcp/143
junos-imaps tcp/993  |  junos-dns-udp udp/53  |  junos-dns-tcp tcp/53
junos-ntp udp/123  |  junos-snmp-get udp/161  |  junos-ldap tcp/389
junos-ms-sql tcp/1433  |  junos-smb tcp/139 tcp/445  |  junos-smb-session tcp/445
junos-rdp tcp/3389  |  junos-vnc tcp/5800 tcp/5900  |  junos-syslog udp/514
junos-radius udp/1812  |  junos-ike udp/500  |  junos-bgp tcp/179
junos-pptp tcp/1723  |  junos-sqlnet-v2 tcp/1521  |  junos-ping icmp/0-65535
junos-icmp-all icmp/0-65535  |  junos-icmp-ping icmp/0-65535  |  junos-gre 47/0-65535
any any/0-65535
"""


def _app_table() -> dict[str, tuple[tuple[str, int, int], ...]]:
    table = {}
    for row in _JUNOS_APPS_TABLE.replace("|", "\n").splitlines():
        if not row.strip():
            continue
        name, *services = row.split()
        entries = []
        for service in services:
            protocol, _, ports = service.partition("/")
            lo, _, hi = ports.partition("-")
            entries.append((protocol, int(lo), int(hi or lo)))
        table[name] = tuple(entries)
    return table


_JUNOS_APPS = _app_table()
_JUNOS_PORTS = {
    "ftp": 21,
    "ssh": 22,
    "telnet": 23,
    "smtp": 25,
    "domain": 53,
    "http": 80,
    "https": 443,
    "pop3": 110,
    "imap": 143,
    "ntp": 123,
    "snmp": 161,
    "ldap": 389,
    "syslog": 514,
    "radius": 1812,
    "bgp": 179,
    "tftp": 69,
    "netbios-ssn": 139,
    "printer": 515,
}


def parse(config: str, device: str = "") -> RuleBase:
    reader = Reader(PLATFORM, device)
    _Junos(reader, statements(reader, reader.lines(config))).read()
    return reader.finish()


class _Junos(JunosPlane):
    def __init__(self, reader: Reader, stmts: list[Statement]) -> None:
        self.reader, self.stmts, self.base = reader, stmts, reader.base
        self.addresses: dict[str, list[Range]] = {}
        self.address_sets: dict[str, list[str]] = {}
        self.address_conditions: dict[str, str] = {}
        self.v6_names: set[str] = set()
        self.apps: dict[str, list[Service]] = {}
        self.app_sets: dict[str, list[str]] = {}
        self.terms: dict[tuple[str, str], dict[str, str]] = {}
        self.app_conditions: dict[str, list[str]] = {}
        self.zone_of: dict[str, str] = {}
        self.grant_cache: dict[tuple[str, ...], dict[str, list[str]]] = {}

    def read(self) -> None:
        for statement in self.stmts:
            try:
                self.objects(statement)
            except (ValueError, IndexError) as exc:
                self.reader.warn(f"not understood ({exc})", redact_line(statement.text))
        self.build_applications()
        for step in (self.interfaces, self.policies, self.nat, self.management, self.vpn):
            try:
                step()
            except (ValueError, IndexError) as exc:
                self.reader.warn(f"{step.__name__} not fully understood ({exc})")
        filtered = {
            f"{s.words[1]}.{s.words[3]} ({s.words[-1]})"
            for s in self.stmts
            if s.words[:1] == ("interfaces",) and s.words[4:7] == ("family", "inet", "filter")
            and len(s.words) > 8 and s.words[2] == "unit"
        }  # fmt: skip
        for name in sorted(filtered):
            self.reader.warn(f"stateless firewall filter on {name} is not modelled")

    # --- objects ----------------------------------------------------------------------
    def objects(self, s: Statement) -> None:
        w = s.words
        book = None
        if w[:2] == ("security", "address-book") and len(w) > 4:
            book = w[3:]
        elif w[:3] == ("security", "zones", "security-zone") and w[4:5] == ("address-book",):
            book = w[5:]
        if book:
            kind, name = book[0], book[1]
            if kind == "address" and len(book) > 2:
                rest = book[2:]
                if rest[0] == "range-address" and len(rest) >= 4:
                    self.addresses.setdefault(name, []).append(ip_range(f"{rest[1]}-{rest[3]}"))
                elif rest[0] in ("dns-name", "wildcard-address"):
                    self.address_conditions[name] = f"{rest[0]} {' '.join(rest[1:])}"
                elif rest[0] != "description" and ":" in rest[0]:
                    self.v6_names.add(name)  # an IPv6 address: no IPv4 packet matches it
                elif rest[0] != "description":
                    self.addresses.setdefault(name, []).append(cidr_range(rest[0]))
            elif kind == "address-set" and len(book) > 3 and book[2] in ("address", "address-set"):
                self.address_sets.setdefault(name, []).append(book[3])
        elif w[:2] == ("applications", "application") and len(w) > 3:
            self.application(w[2], w[3:])
        elif w[:2] == ("applications", "application-set") and len(w) > 4 and w[3] != "description":
            self.app_sets.setdefault(w[2], []).append(w[4])

    def application(self, name: str, rest: tuple[str, ...]) -> None:
        # protocol/destination-port directly, or under `term T`: one Service per term
        term = "" if rest[0] != "term" else rest[1]
        rest = rest if rest[0] != "term" else rest[2:]
        # A term is one statement of keyword/value pairs: `term t1 protocol tcp destination-port 1`.
        fields = self.terms.setdefault((name, term), {})
        for key, value in zip(rest[::2], rest[1::2], strict=False):
            fields[key] = value

    def build_applications(self) -> None:
        """Services per application, and what narrows them further (source port, ICMP type,
        RPC program) as conditions of every rule that uses the application."""
        for (name, _), fields in self.terms.items():
            try:
                protocol = protocol_name(fields.get("protocol", "any"))
            except ValueError:
                protocol = "any"
                self.app_conditions.setdefault(name, []).append(f"application {name} protocol")
            ports = PORT_ANY
            if "destination-port" in fields and protocol in ("tcp", "udp"):
                lo, _, hi = fields["destination-port"].partition("-")
                try:
                    ports = ((port_number(lo, _JUNOS_PORTS), port_number(hi or lo, _JUNOS_PORTS)),)
                except ValueError as exc:  # widened to every port, and said so
                    self.reader.warn(f"application {name}: {exc}")
                    self.app_conditions.setdefault(name, []).append(f"application {name} ports")
            self.apps.setdefault(name, []).append(Service(protocol, ports, name))
            for key in ("source-port", "icmp-type", "icmp-code", "rpc-program-number", "uuid"):
                if key in fields:
                    self.app_conditions.setdefault(name, []).append(
                        f"application {name} {key} {fields[key]}"
                    )

    def resolve_address(self, name: str, conditions: list[str], seen=frozenset()) -> list[Range]:
        if name in ("any", "any-ipv4"):
            return list(IPV4_ANY)
        if name == "any-ipv6" or (name in self.v6_names and name not in self.addresses):
            return []
        if name in self.address_conditions:
            conditions.append(f"address {name} ({self.address_conditions[name]})")
            return list(IPV4_ANY)
        if name in self.addresses:
            return self.addresses[name]
        if name in self.address_sets and name not in seen:
            out: list[Range] = []
            for member in self.address_sets[name]:
                out += self.resolve_address(member, conditions, seen | {name})
            return out
        self.reader.warn(f"address {name!r} is not defined; taken as any")
        conditions.append(f"undefined address {name}")
        return list(IPV4_ANY)

    def ipv6_only(self, names: list[str], seen: frozenset[str] = frozenset()) -> bool:
        """Every name is an IPv6 address, any-ipv6, or a set of only those."""
        if not names:
            return False
        for name in names:
            if name in seen:
                return False
            if name in self.address_sets:
                if not self.ipv6_only(self.address_sets[name], seen | {name}):
                    return False
            elif name != "any-ipv6" and (name not in self.v6_names or name in self.addresses):
                return False
        return True

    def resolve_app(self, name: str, conditions: list[str], seen=frozenset()) -> list[Service]:
        if name in self.apps:
            conditions.extend(self.app_conditions.get(name, ()))
            return self.apps[name]
        if name in self.app_sets and name not in seen:
            return [
                s
                for m in self.app_sets[name]
                for s in self.resolve_app(m, conditions, seen | {name})
            ]
        if name in _JUNOS_APPS:
            return [Service(p, ((lo, hi),), name) for p, lo, hi in _JUNOS_APPS[name]]
        self.reader.warn(f"application {name!r} is not known; taken as any")
        conditions.append(f"unknown application {name}")
        return [Service("any", PORT_ANY, name)]

    # --- policies ---------------------------------------------------------------------
    def policies(self) -> None:
        order: dict[tuple[str, str], dict[str, list[Statement]]] = {}
        for s in self.under("security", "policies"):
            w = s.words
            if w[2:3] == ("from-zone",) and len(w) > 7 and w[6] == "policy":
                order.setdefault((f"{w[3]}->{w[5]}", w[3] + "\0" + w[5]), {}).setdefault(
                    w[7], []
                ).append(s)
            elif w[2:4] == ("global", "policy") and len(w) > 4:
                order.setdefault(("global", ""), {}).setdefault(w[4], []).append(s)
        default = "deny"
        for s in self.under("security", "policies", "default-policy"):
            default = "permit" if s.words[3:4] == ("permit-all",) else "deny"
        has_global = ("global", "") in order
        for (table, zones), policies in order.items():
            position = 0
            for name, stmts in policies.items():
                try:
                    rule = self.policy(table, zones, name, stmts, position)
                except (ValueError, IndexError) as exc:
                    self.reader.warn(f"policy {name!r} not understood ({exc}); left out")
                    continue
                if rule is not None:
                    self.base.rules.append(rule)
                    position += 1
            if table == "global" or not has_global:
                src, dst = zones.split("\0") if zones else ("", "")
                why = f"security policies default-policy: {default} what no policy matched"
                self.base.rules.append(
                    implicit_rule(
                        table,
                        position,
                        default,
                        why,
                        src_zones=(src,) if src else (),
                        dst_zones=(dst,) if dst else (),
                    )
                )

    def policy(
        self, table: str, zones: str, name: str, stmts: list[Statement], position: int
    ) -> Rule | None:
        conditions: list[str] = []
        src_names: list[str] = []
        dst_names: list[str] = []
        apps: list[str] = []
        action, log, negate_src, negate_dst = "", False, False, False
        src_zones: list[str] = []
        dst_zones: list[str] = []
        skip = 8 if table != "global" else 5
        for s in stmts:
            rest = s.words[skip:]
            if rest[:2] == ("match", "source-address") and len(rest) > 2:
                src_names.append(rest[2])
            elif rest[:2] == ("match", "destination-address") and len(rest) > 2:
                dst_names.append(rest[2])
            elif rest[:2] == ("match", "application") and len(rest) > 2:
                apps.append(rest[2])
            elif rest[:2] == ("match", "source-address-excluded"):
                negate_src = True
            elif rest[:2] == ("match", "destination-address-excluded"):
                negate_dst = True
            elif rest[:2] == ("match", "from-zone") and len(rest) > 2:
                src_zones.append(rest[2])
            elif rest[:2] == ("match", "to-zone") and len(rest) > 2:
                dst_zones.append(rest[2])
            elif rest[:1] == ("match",) and len(rest) > 1:
                conditions.append(" ".join(rest[1:]))  # source-identity, dynamic-application...
            elif rest[:1] == ("then",) and len(rest) > 1:
                if rest[1] in ("permit", "deny", "reject"):
                    action = action or rest[1]
                    if rest[1] == "permit" and len(rest) > 2 and rest[2] == "tunnel":
                        pass  # a VPN policy permits too
                elif rest[1] == "log":
                    log = True
        if not action:
            self.reader.warn(f"policy {name!r} has no action; left out")
            return None
        if any(self.ipv6_only(names) for names in (src_names, dst_names)):
            return None  # an IPv6 policy: out of this IPv4 model
        sources = self.addresses_of(src_names, negate_src, conditions)
        destinations = self.addresses_of(dst_names, negate_dst, conditions)
        services = [s for a in apps or ["any"] for s in self.resolve_app(a, conditions)]
        if zones:
            src, dst = zones.split("\0")
            src_zones, dst_zones = [src], [dst]
        return Rule(
            id=f"{table} {name}",
            table=table,
            position=position,
            action="permit" if action == "permit" else "deny",
            sources=sources,
            destinations=destinations,
            services=tuple(services),
            src_zones=tuple(z for z in src_zones if z != "any"),
            dst_zones=tuple(z for z in dst_zones if z != "any"),
            log=log,
            enabled=not all(s.inactive for s in stmts),
            name=name,
            lines=tuple(redact_line(s.text) for s in stmts),
            conditions=tuple(conditions),
        )

    def addresses_of(self, names: list[str], negated: bool, conditions: list[str]) -> AddressSet:
        ranges: list[Range] = []
        for name in names or ["any"]:
            found: list[str] = []
            resolved = self.resolve_address(name, found)
            if found and negated:
                conditions.extend(found)  # a widened member under negation: leave it out
                continue
            conditions.extend(found)
            ranges += resolved
        return AddressSet(merge(ranges), negated, tuple(names))

    # --- interfaces, NAT, management, VPN ---------------------------------------------
    def interfaces(self) -> None:
        for s in self.under("security", "zones", "security-zone"):
            if s.words[4:5] == ("interfaces",) and len(s.words) > 5:
                self.zone_of[s.words[5]] = s.words[3]
        found: dict[str, list[str]] = {}
        cited: dict[str, list[str]] = {}
        for s in self.under("interfaces"):
            w = s.words
            if len(w) > 6 and w[2] == "unit" and w[4:7] == ("family", "inet", "address"):
                name = f"{w[1]}.{w[3]}"
                found.setdefault(name, []).append(w[7])
                cited.setdefault(name, []).append(redact_line(s.text))
        for name in dict.fromkeys([*found, *self.zone_of]):
            self.base.interfaces.append(
                Interface(
                    name,
                    self.zone_of.get(name, ""),
                    tuple(found.get(name, ())),
                    None,
                    tuple(cited.get(name, ())),
                )
            )
        for s in self.under("routing-options", "static", "route"):
            w = s.words
            if len(w) > 5 and w[4] == "next-hop" and is_default_route(w[3]):
                hop = cidr_range(w[5])[0] if w[5][0].isdigit() else None
                for iface in self.base.interfaces:
                    spans = [cidr_range(a) for a in iface.addresses]
                    on_link = any(lo <= hop <= hi for lo, hi in spans) if hop is not None else False
                    named = hop is None and iface.name == w[5]
                    if (on_link or named) and iface.name not in self.base.default_route_interfaces:
                        self.base.default_route_interfaces += (iface.name,)


_HIT_ROW = re.compile(r"^\s*\d+\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s*(\S*)\s*$")


def apply_counters(base: RuleBase, output: str) -> None:
    """Policy counts from ``show security policies hit-count`` and the boot time from
    ``show system uptime`` (counters start at boot unless cleared since)."""
    reader = Reader(base.platform, base.device)
    hits: dict[str, int] = {}
    for line in reader.lines(output):
        booted = re.search(r"System booted:.*\((.+) ago\)", line)
        if booted:
            base.counter_baseline_seconds = parse_duration(booted.group(1))
            continue
        row = _HIT_ROW.match(line)
        if row:
            src, dst, name, count = row.group(1), row.group(2), row.group(3), int(row.group(4))
            table = "global" if (src, dst) == ("global", "global") else f"{src}->{dst}"
            hits[f"{table} {name}"] = count
    for rule in base.rules:
        if rule.id in hits:
            rule.hits = hits[rule.id]
    base.warnings.extend(reader.base.warnings)
