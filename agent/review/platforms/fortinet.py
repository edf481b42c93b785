"""FortiOS (FortiGate) backup / ``show`` output -> RuleBase.

Semantics made explicit:
- policies are evaluated in the order the configuration lists them (``move`` reorders the
  list; the id is a name, not a position), then an implicit deny;
- a backup leaves defaults out: no ``set action`` is deny, no ``set status`` is enabled, no
  ``set logtraffic`` is utm (security events only: counted as logging), no ``set schedule``
  is always, an address without ``set subnet`` is 0.0.0.0/0, a static route without
  ``set dst`` is a default route;
- a policy's destination that names a VIP matches the VIP's mapped (internal) address, as on
  every other vendor (the rule sees the packet after destination NAT); the VIP is a NatRule;
- an FQDN/geography/dynamic address, a service restricted by source port or address, a
  negated service, user/group identity and internet-service matching are not expressible:
  the rule is widened and the condition recorded (``Rule.conditions``).
"""

from __future__ import annotations

import re

from agent.review.model import (
    IPV4_ANY,
    PORT_ANY,
    AddressSet,
    Interface,
    NatRule,
    Range,
    Rule,
    RuleBase,
    Service,
    cidr_range,
    merge,
)
from agent.review.platforms._common import (
    ZERO,
    Reader,
    implicit_rule,
    ip_range,
    parse_duration,
    prefix_length,
    subtract,
)
from agent.review.platforms._fortios_plane import FortiPlane
from agent.review.platforms._fortios_tree import Entry, Section, build, scopes

PLATFORM = "fortinet"
# `show` prints the configuration as a backup does (non-default settings only). Nothing here
# changes the console or any setting: paging is the collector's business.
CONFIG_COMMANDS = ("show",)
COUNTER_COMMANDS = ("get system performance status", "diagnose firewall iprope list 100004")

# Predefined services (`config firewall service custom` of a factory config) for a backup or
# a trimmed export that uses them without listing them: "name protocol[/ports] ...".
_DEFAULT_SERVICE_TABLE = """
ALL any  |  ALL_TCP tcp/1-65535  |  ALL_UDP udp/1-65535  |  ALL_ICMP icmp
PING icmp  |  HTTP tcp/80  |  HTTPS tcp/443  |  SSH tcp/22
TELNET tcp/23  |  FTP tcp/21  |  SMTP tcp/25  |  SMTPS tcp/465
POP3 tcp/110  |  IMAP tcp/143  |  RDP tcp/3389  |  SMB tcp/445
SAMBA tcp/139  |  DNS tcp/53 udp/53  |  NTP tcp/123 udp/123  |  SNMP tcp/161-162 udp/161-162
SYSLOG udp/514  |  MS-SQL tcp/1433-1434  |  MYSQL tcp/3306  |  LDAP tcp/389
VNC tcp/5900  |  KERBEROS tcp/88 udp/88
"""


def _service_table() -> dict[str, tuple[Service, ...]]:
    table: dict[str, tuple[Service, ...]] = {}
    for row in _DEFAULT_SERVICE_TABLE.replace("|", "\n").splitlines():
        if row.strip():
            name, *entries = row.split()
            services = []
            for entry in entries:
                protocol, _, ports = entry.partition("/")
                lo, _, hi = ports.partition("-")
                span = ((int(lo), int(hi or lo)),) if lo else PORT_ANY
                services.append(Service(protocol, span, name))
            table[name] = tuple(services)
    return table


_DEFAULT_SERVICES = _service_table()
_DEFAULT_GROUPS = {
    "Web Access": ("DNS", "HTTP", "HTTPS"),
    "Email Access": ("DNS", "IMAP", "POP3", "SMTP"),
}


def parse(config: str, device: str = "") -> RuleBase:
    reader = Reader(PLATFORM, device)
    root = build(reader, reader.lines(config))
    all_scopes = scopes(root)
    for vdom, sections in all_scopes:
        _Vdom(reader, sections, vdom if len(all_scopes) > 1 else "").read()
    return reader.finish()


class _Vdom(FortiPlane):
    def __init__(self, reader: Reader, sections: dict[str, Section], vdom: str) -> None:
        self.reader, self.sections, self.base = reader, sections, reader.base
        self.table = f"{vdom}/policy" if vdom else "policy"
        self.prefix = f"{vdom}/" if vdom else ""  # ids stay unique across VDOMs
        self.vips: dict[str, NatRule] = {}
        self.resolved: dict[str, tuple[tuple[Range, ...], list[str]]] = {}  # per object name

    def read(self) -> None:
        self.interfaces()
        self.routes()
        self.read_vips()
        self.policies()
        self.management()
        self.vpn()
        for path in (
            "firewall local-in-policy",
            "firewall multicast-policy",
            "firewall DoS-policy",
        ):
            if self.section(path):
                self.reader.warn(f"config {path} is not modelled (it may narrow what is reachable)")

    # --- addresses and services -------------------------------------------------------
    def address(
        self, name: str, seen: frozenset[str] = frozenset()
    ) -> tuple[tuple[Range, ...], list[str]]:
        """Ranges of an address, group or VIP and the conditions that widened it."""
        if not seen and name in self.resolved:
            return self.resolved[name]
        if not seen:
            self.resolved[name] = self.address(name, frozenset({""}))
            return self.resolved[name]
        if name in seen:
            self.reader.warn(f"address group loop through {name!r}")
            return (), [f"address loop {name}"]
        seen = seen | {name}
        if name in self.vips:
            return self.vips[name].internal.ranges, []
        entry = self.section("firewall address").get(name)
        if entry is not None:
            return self._address_entry(entry)
        group = self.section("firewall addrgrp").get(name)
        if group is not None:
            ranges: list[Range] = []
            conditions: list[str] = []
            for member in group.settings.get("member", []):
                r, c = self.address(member, seen)
                ranges.extend(r)
                conditions.extend(c)
            merged = merge(ranges)
            if group.get("exclude") == "enable":
                for member in group.settings.get("exclude-member", []):
                    r, c = self.address(member, seen)
                    if c:  # an unresolvable exclusion: keep the wider set
                        conditions.extend(c)
                        continue
                    merged = subtract(merged, merge(list(r)))
            return merged, conditions
        vipgrp = self.section("firewall vipgrp").get(name)
        if vipgrp is not None:
            ranges = []
            for member in vipgrp.settings.get("member", []):
                ranges.extend(self.address(member, seen)[0])
            return merge(ranges), []
        if name == "all":
            return IPV4_ANY, []
        if name == "none":
            return (), []
        self.reader.warn(f"address {name!r} is not defined; taken as any")
        return IPV4_ANY, [f"undefined address {name}"]

    def _address_entry(self, entry: Entry) -> tuple[tuple[Range, ...], list[str]]:
        kind = entry.get("type", "ipmask")
        try:
            if kind in ("ipmask", "interface-subnet"):
                return (cidr_range(" ".join(entry.settings.get("subnet", [ZERO, ZERO]))),), []
            if kind == "iprange":
                lo = entry.get("start-ip", ZERO)
                return (ip_range(f"{lo}-{entry.get('end-ip', lo)}"),), []
        except ValueError:
            self.reader.warn(
                f"address {entry.name!r}: unreadable value", " ".join(entry.lines[1:2])
            )
        return IPV4_ANY, [f"address {entry.name} ({kind})"]

    def address_set(self, entry: Entry, key: str, rule_conditions: list[str]) -> AddressSet:
        names = entry.settings.get(key, [])
        negated = entry.get(f"{key}-negate") == "enable"
        ranges: list[Range] = []
        for name in names:
            r, conditions = self.address(name)
            if conditions and negated:
                # Negating a widened set would narrow the rule: drop the member instead.
                rule_conditions.extend(conditions)
                continue
            ranges.extend(r)
            rule_conditions.extend(conditions)
        return AddressSet(merge(ranges), negated, tuple(names))

    def services(
        self, names: list[str], conditions: list[str], seen: frozenset[str] = frozenset()
    ) -> list[Service]:
        out: list[Service] = []
        for name in names:
            custom = self.section("firewall service custom").get(name)
            group = self.section("firewall service group").get(name)
            if custom is not None:
                out.extend(self._custom(custom, conditions))
            elif group is not None and name not in seen:
                out.extend(
                    self.services(group.settings.get("member", []), conditions, seen | {name})
                )
            elif name in _DEFAULT_SERVICES:
                out.extend(_DEFAULT_SERVICES[name])
            elif name in _DEFAULT_GROUPS:
                out.extend(self.services(list(_DEFAULT_GROUPS[name]), conditions, seen | {name}))
            else:
                self.reader.warn(f"service {name!r} is not defined; taken as any")
                conditions.append(f"undefined service {name}")
                out.append(Service("any", PORT_ANY, name))
        return out

    def _custom(self, entry: Entry, conditions: list[str]) -> list[Service]:
        protocol = entry.get("protocol", "TCP/UDP/SCTP").upper()
        name = entry.name
        limited = entry.settings.get("iprange") or entry.settings.get("fqdn")
        if limited:
            conditions.append(f"service {name} limited to destination {' '.join(limited)}")
        if protocol in ("ICMP", "ICMP6"):
            if entry.get("icmptype"):
                conditions.append(f"service {name} icmp type {entry.get('icmptype')}")
            return [Service("icmp", PORT_ANY, name)] if protocol == "ICMP" else []
        if protocol == "IP":
            number = entry.get("protocol-number", "0")
            proto = {"0": "any", "6": "tcp", "17": "udp", "1": "icmp"}.get(number, number)
            return [Service(proto, PORT_ANY, name)]
        out = []
        for proto in ("tcp", "udp", "sctp"):
            ports: list[Range] = []
            for item in entry.settings.get(f"{proto}-portrange", []):
                dst, _, src = item.partition(":")
                try:
                    lo, _, hi = dst.partition("-")
                    ports.append((int(lo), int(hi or lo)))
                except ValueError:
                    self.reader.warn(f"service {name!r}: unreadable port range {item!r}")
                    conditions.append(f"service {name} port {item}")
                    ports.append((0, 65535))
                if src and src not in ("0-65535", "1-65535"):
                    conditions.append(f"service {name} source ports {src}")
            if ports:
                out.append(Service(proto if proto != "sctp" else "132", merge(ports), name))
        return out

    # --- objects of the box -----------------------------------------------------------
    def interfaces(self) -> None:
        zones = {}
        for zone in self.section("system zone").values():
            for member in zone.settings.get("interface", []):
                zones[member] = zone.name
        for entry in self.section("system interface").values():
            ip = entry.settings.get("ip", [])
            addresses = ()
            if len(ip) == 1 and "/" in ip[0]:
                addresses = (ip[0],)  # `set ip 10.0.1.1/24` is accepted too
            elif len(ip) == 2:
                try:
                    prefix = prefix_length(ip[1])
                    addresses = (f"{ip[0]}/{prefix}",)
                except ValueError:
                    self.reader.warn(
                        f"interface {entry.name!r}: unreadable address",
                        entry.setting_lines.get("ip", ""),
                    )
            untrusted = True if entry.get("role") == "wan" else None
            self.base.interfaces.append(
                Interface(
                    entry.name,
                    zones.get(entry.name, ""),
                    addresses,
                    untrusted,
                    entry.cite("ip", "role"),
                )
            )

    def routes(self) -> None:
        for entry in self.section("router static").values():
            dst = " ".join(entry.settings.get("dst", [ZERO, ZERO]))
            device = entry.get("device")
            if entry.get("status") == "disable" or not device:
                continue
            try:
                if (
                    cidr_range(dst) == (0, 2**32 - 1)
                    and device not in self.base.default_route_interfaces
                ):
                    self.base.default_route_interfaces += (device,)
            except ValueError:
                self.reader.warn(
                    "static route with an unreadable destination",
                    entry.setting_lines.get("dst", ""),
                )

    def read_vips(self) -> None:
        for entry in self.section("firewall vip").values():
            try:
                self.vips[entry.name] = self._vip(entry)
            except ValueError as exc:
                self.reader.warn(f"VIP {entry.name!r} not understood ({exc})")
        self.base.nat.extend(self.vips.values())

    def _vip(self, entry: Entry) -> NatRule:
        external = ip_range(entry.get("extip", ZERO))
        mapped: list[Range] = [ip_range(v) for v in entry.settings.get("mappedip", [])]
        realservers = entry.subs.get("realservers")
        if realservers:
            mapped += [ip_range(s.get("ip")) for s in realservers.entries.values() if s.get("ip")]
        forward = entry.get("portforward") == "enable"
        protocol = entry.get("protocol", "tcp") if forward else "any"
        ext_ports, int_ports = PORT_ANY, PORT_ANY
        if forward:
            lo, _, hi = entry.get("extport", "0").partition("-")
            ext_ports = ((int(lo), int(hi or lo)),)
            mlo, _, mhi = entry.get("mappedport", entry.get("extport", "0")).partition("-")
            int_ports = ((int(mlo), int(mhi or mlo)),)
        zone = entry.get("extintf", "any")
        return NatRule(
            id=f"{self.prefix}{entry.name}",
            zone="" if zone == "any" else zone,
            external=AddressSet((external,), names=(entry.name,)),
            protocol=protocol,
            external_ports=ext_ports,
            internal=AddressSet(merge(mapped), names=(entry.name,)),
            internal_ports=int_ports,
            lines=entry.cite(),
            name=entry.name,
        )

    # --- policies ---------------------------------------------------------------------
    def policies(self) -> None:
        entries = list(self.section("firewall policy").values())
        position = 0
        for entry in entries:
            try:
                rule = self._policy(entry, position)
            except (ValueError, KeyError, IndexError) as exc:
                self.reader.warn(f"policy {entry.name!r} not understood ({exc}); left out")
                continue
            if rule is not None:
                self.base.rules.append(rule)
                position += 1
        if entries:
            self.base.rules.append(
                implicit_rule(self.table, position, "deny", "FortiOS denies what no policy accepts")
            )

    def _policy(self, entry: Entry, position: int) -> Rule | None:
        conditions: list[str] = []
        if not entry.settings.get("srcaddr") or not entry.settings.get("dstaddr"):
            if entry.settings.get("srcaddr6") or entry.settings.get("dstaddr6"):
                return None  # IPv6-only policy: the model is IPv4
            self.reader.warn(
                f"policy {entry.name!r} has no source or destination address; left out"
            )
            return None
        sources = self.address_set(entry, "srcaddr", conditions)
        destinations = self.address_set(entry, "dstaddr", conditions)
        services = self.services(entry.settings.get("service", []), conditions) or [Service("any")]
        if entry.get("service-negate") == "enable":
            conditions.append("negated service " + " ".join(entry.settings.get("service", [])))
            services = [Service("any")]
        if entry.get("internet-service") == "enable":
            conditions.append(
                "internet-service " + " ".join(entry.settings.get("internet-service-name", []))
            )
            destinations = AddressSet(names=destinations.names)
        for key in ("users", "groups", "fsso-groups"):
            if entry.settings.get(key):
                conditions.append(f"{key} " + " ".join(entry.settings[key]))
        action = entry.get("action", "deny")
        schedule = entry.get("schedule", "always")
        return Rule(
            id=f"{self.prefix}{entry.name}",
            table=self.table,
            position=position,
            action="permit" if action in ("accept", "ipsec") else "deny",
            sources=sources,
            destinations=destinations,
            services=tuple(services),
            src_zones=_zones(entry.settings.get("srcintf", [])),
            dst_zones=_zones(entry.settings.get("dstintf", [])),
            log=entry.get("logtraffic", "utm") != "disable",
            enabled=entry.get("status", "enable") != "disable",
            schedule=None if schedule == "always" else schedule,
            comment=entry.get("comments"),
            name=entry.get("name"),
            lines=entry.cite(),
            conditions=tuple(conditions),
        )


def _zones(names: list[str]) -> tuple[str, ...]:
    return () if not names or "any" in names else tuple(names)


_IPROPE_POLICY = re.compile(r"\bpolicy index=(\d+)\b|\bidx=(\d+)\b")
_IPROPE_HITS = re.compile(r"\bhit count:\s*(\d+)|\b(?:pkts|packets)/bytes=(\d+)/")


def apply_counters(base: RuleBase, output: str) -> None:
    """Hit counts from ``diagnose firewall iprope list 100004`` (per policy id) and the
    counter baseline from the uptime in ``get system performance status``."""
    reader = Reader(base.platform, base.device)
    sessions: dict[str, int] = {}
    packets: dict[str, int] = {}
    current = None
    for line in reader.lines(output):
        uptime = re.match(r"\s*Uptime:\s*(.+)", line)
        if uptime:
            base.counter_baseline_seconds = parse_duration(uptime.group(1))
            continue
        policy = _IPROPE_POLICY.search(line)
        if policy:
            current = policy.group(1) or policy.group(2)
        for counted in _IPROPE_HITS.finditer(line):
            if current is None:
                continue
            if counted.group(1) is not None:
                sessions[current] = int(counted.group(1))
            else:
                packets[current] = int(counted.group(2))
    # 'hit count' (sessions) where the firmware prints it, packets otherwise: zero is unused.
    hits = {**packets, **sessions}
    for rule in base.rules:
        if not rule.implicit and rule.id in hits:
            rule.hits = hits[rule.id]
    base.warnings.extend(reader.base.warnings)
