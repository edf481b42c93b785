"""Cisco ASA ``show running-config`` -> RuleBase.

Semantics made explicit:
- an access-list filters only where ``access-group`` binds it: its table is the ACL name,
  its zones the interfaces it is bound to (``in`` -> source, ``out`` -> destination); an
  unbound ACL (NAT, VPN split tunnel, crypto) is not a filter and is left out;
- each bound ACL ends in an implicit deny; an interface with no inbound ACL permits traffic
  to interfaces of a lower security level (and equal ones with ``same-security-traffic
  permit inter-interface``), then denies: both are implicit rules;
- rule ids are ``<acl> line <n>`` with n counted as the ASA counts (remarks included), so
  ``show access-list`` hit counts map back; ACL addresses are real (post-NAT) addresses;
- ``object network`` static NAT with ``service`` (and twice NAT ``nat (in,out) source
  static``) -> NatRule; ``http``/``ssh``/``telnet`` <net> <mask> <if> -> Management (http
  only with ``http server enable``); ``username`` with service-type admin (the default)
  or remote-access -> VpnUser once remote access (AnyConnect, a remote-access tunnel-group)
  is set up; nas-prompt users cannot use VPN.
"""

from __future__ import annotations

import re

from agent.review.model import (
    PORT_ANY,
    AddressSet,
    Interface,
    Management,
    NatRule,
    Range,
    Rule,
    RuleBase,
    SnmpCommunity,
    VpnProposal,
    VpnUser,
    cidr_range,
    merge,
)
from agent.review.platforms._asa_objects import AsaObjects
from agent.review.platforms._cisco_ace import AceError, Ipv6Only, Objects, parse_ace
from agent.review.platforms._common import (
    Reader,
    implicit_rule,
    ip_range,
    is_default_route,
    parse_duration,
    port_number,
    prefix_length,
    redact_line,
)

PLATFORM = "cisco_asa"
CONFIG_COMMANDS = ("show running-config",)
COUNTER_COMMANDS = ("show version", "show access-list")

_DEFAULT_COMMUNITIES = {"public", "private", "cisco", "community", "snmp"}


def _blocks(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Top-level lines with their indented children."""
    out: list[tuple[str, list[str]]] = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith(("!", ":")):
            continue
        if line[0] in " \t" and out:
            out[-1][1].append(line.strip())
        else:
            out.append((line.strip(), []))
    return out


def parse(config: str, device: str = "") -> RuleBase:
    reader = Reader(PLATFORM, device)
    _Asa(reader, _blocks(reader.lines(config))).read()
    return reader.finish()


class _Asa(AsaObjects):
    def __init__(self, reader: Reader, blocks: list[tuple[str, list[str]]]) -> None:
        self.reader, self.blocks, self.base = reader, blocks, reader.base
        self.objects = Objects()
        self.levels: dict[str, int] = {}
        self.acls: dict[str, list[tuple[int, str]]] = {}
        self.bindings: dict[str, list[tuple[str, str]]] = {}  # acl -> [(direction, if)]
        self.same_security = False
        self.groups: dict[str, dict[str, tuple[list[str], list[str]]]] = {}
        self.users: dict[str, dict] = {}
        self.http_enabled = False
        self.remote_access = ""  # 'anyconnect' / 'ipsec-xauth' once remote access is set up

    def read(self) -> None:
        for head, children in self.blocks:
            words = head.split()
            handler = _HANDLERS.get(words[0])
            if handler is None:
                continue
            try:
                handler(self, words, children, head)
            except (ValueError, IndexError, KeyError) as exc:
                self.reader.warn(f"not understood ({exc})", head)
        self.network_groups()
        self.rules()
        self.vpn_users()

    # --- objects ----------------------------------------------------------------------
    def on_name(self, words, children, head) -> None:
        self.objects.names[words[2]] = words[1]

    def on_interface(self, words, children, head) -> None:
        nameif, level, addresses, cited = "", None, (), [redact_line(head)]
        for child in children:
            parts = child.split()
            if parts[0] == "nameif" and len(parts) > 1:
                nameif = parts[1]
                cited.append(child)
            elif parts[0] == "security-level" and len(parts) > 1:
                level = int(parts[1])
                cited.append(child)
            elif parts[:2] == ["ip", "address"] and len(parts) > 3 and parts[2][0].isdigit():
                prefix = prefix_length(parts[3])
                addresses = (f"{parts[2]}/{prefix}",)
                cited.append(child)
        if not nameif:
            return
        # An interface without security-level has 0, except the one named inside (100).
        self.levels[nameif] = level if level is not None else (100 if nameif == "inside" else 0)
        if addresses:
            self.objects.interfaces[nameif] = (cidr_range(addresses[0].split("/")[0]),)
        self.base.interfaces.append(Interface(nameif, nameif, addresses, None, tuple(cited)))

    # --- access lists -----------------------------------------------------------------
    def on_access_list(self, words, children, head) -> None:
        self.acls.setdefault(words[1], []).append((len(self.acls.get(words[1], [])) + 1, head))

    def on_access_group(self, words, children, head) -> None:
        if words[2] == "global":
            self.bindings.setdefault(words[1], []).append(("global", ""))
        else:
            self.bindings.setdefault(words[1], []).append((words[2], words[4]))

    def on_same_security(self, words, children, head) -> None:
        if "inter-interface" in words:
            self.same_security = True

    def rules(self) -> None:
        bound_in = set()
        for acl, entries in self.acls.items():
            binding = self.bindings.get(acl)
            if not binding:
                continue
            src = tuple(i for d, i in binding if d == "in")
            dst = tuple(i for d, i in binding if d == "out")
            bound_in.update(src)
            table = "global" if any(d == "global" for d, _ in binding) else acl
            position = 0
            for line_number, head in entries:
                words = head.split()
                if len(words) < 3 or words[2] == "remark":
                    continue
                rest = words[2:]
                if rest[0] == "extended":
                    rest = rest[1:]
                elif rest[0] in ("standard", "webtype", "ethertype", "rule-based"):
                    if rest[0] == "standard":
                        rest = [rest[1], "ip", "any", *rest[2:]]
                    else:
                        continue
                try:
                    ace = parse_ace(rest[0], rest[1:], self.objects, wildcard=False)
                except Ipv6Only:
                    continue
                except (AceError, ValueError, IndexError) as exc:
                    self.reader.warn(f"access-list entry not understood ({exc}); left out", head)
                    continue
                self.base.rules.append(
                    Rule(
                        id=f"{acl} line {line_number}",
                        table=table,
                        position=position,
                        action="permit" if ace.action == "permit" else "deny",
                        sources=ace.sources,
                        destinations=ace.destinations,
                        services=ace.services,
                        src_zones=src,
                        dst_zones=dst,
                        log=ace.log,
                        enabled=not ace.inactive,
                        schedule=ace.time_range,
                        lines=(redact_line(head),),
                        conditions=tuple(ace.conditions),
                    )
                )
                position += 1
            why = f"the ASA denies what access-list {acl} does not permit"
            self.base.rules.append(
                implicit_rule(table, position, "deny", why, src_zones=src, dst_zones=dst)
            )
        for acl in self.bindings:
            if acl not in self.acls:
                self.reader.warn(f"access-group binds {acl!r}, which has no entries")
        if "global" in {d for b in self.bindings.values() for d, _ in b}:
            return  # a global ACL ends every interface's default with its implicit deny
        for interface, level in self.levels.items():
            if interface in bound_in:
                continue
            lower = tuple(
                other
                for other, theirs in self.levels.items()
                if other != interface
                and (theirs < level or (theirs == level and self.same_security))
            )
            table = f"{interface} (no access-group)"
            position = 0
            if lower:
                why = (
                    f"security-level {level}: traffic from {interface} to lower levels is permitted"
                )
                self.base.rules.append(
                    implicit_rule(table, 0, "permit", why, src_zones=(interface,), dst_zones=lower)
                )
                position = 1
            why = f"traffic from {interface} to equal or higher security levels is denied"
            self.base.rules.append(
                implicit_rule(table, position, "deny", why, src_zones=(interface,))
            )

    # --- NAT, management, VPN ---------------------------------------------------------
    def object_nat(
        self, name: str, real: list[Range], parts: list[str], head: str, line: str
    ) -> None:
        # nat (inside,outside) static 203.0.113.5|interface [service tcp 3389 3389]
        zones = parts[1].strip("()").split(",")
        if len(parts) < 4 or parts[2] != "static":
            return
        mapped = parts[3]
        external = self.objects.interfaces.get(zones[1], ()) if mapped == "interface" else None
        if external is None:
            external = self.objects.networks.get(mapped, (None,))[0] or (ip_range(mapped),)
        protocol, ext_ports, int_ports = "any", PORT_ANY, PORT_ANY
        if "service" in parts:
            i = parts.index("service")
            protocol = parts[i + 1]
            real_port, mapped_port = port_number(parts[i + 2]), port_number(parts[i + 3])
            int_ports, ext_ports = ((real_port, real_port),), ((mapped_port, mapped_port),)
        self.base.nat.append(
            NatRule(
                id=f"object {name}",
                zone=zones[1],
                external=AddressSet(merge(list(external)), names=(mapped,)),
                protocol=protocol,
                external_ports=ext_ports,
                internal=AddressSet(merge(real), names=(name,)),
                internal_ports=int_ports,
                lines=(redact_line(head), redact_line(line)),
                name=name,
            )
        )

    def on_nat(self, words, children, head) -> None:
        # nat (inside,outside) [after-auto] source static REAL MAPPED [service REAL_SVC MAPPED_SVC]
        rest = [w for w in words[2:] if w not in ("after-auto", "after-object")]
        if len(rest) < 4 or rest[:2] != ["source", "static"] or rest[2] == rest[3]:
            return  # not a static NAT, or identity NAT (a VPN exemption): nothing published
        zones = words[1].strip("()").split(",")
        real = self.objects.networks.get(rest[2], (None,))[0]
        mapped = self.objects.networks.get(rest[3], (None,))[0]
        if rest[3] == "interface":
            mapped = self.objects.interfaces.get(zones[1], ())
        if real is None or mapped is None:
            self.reader.warn("twice NAT with an undefined object", head)
            return
        protocol, ext_ports, int_ports = "any", PORT_ANY, PORT_ANY
        if "service" in rest:
            i = rest.index("service")
            real_svc = self.objects.services.get(rest[i + 1], ((),))[0]
            mapped_svc = self.objects.services.get(rest[i + 2], ((),))[0]
            if real_svc and mapped_svc:
                protocol, int_ports, ext_ports = (
                    real_svc[0].protocol,
                    real_svc[0].ports,
                    mapped_svc[0].ports,
                )
        self.base.nat.append(
            NatRule(
                id=redact_line(head),
                zone=zones[1],
                external=AddressSet(mapped, names=(rest[3],)),
                protocol=protocol,
                external_ports=ext_ports,
                internal=AddressSet(real, names=(rest[2],)),
                internal_ports=int_ports,
                lines=(redact_line(head),),
                name=rest[2],
            )
        )

    def on_management(self, words, children, head) -> None:
        # http|ssh|telnet A M IF  (not 'ssh version 2', 'http server enable', ...)
        if len(words) != 4 or not words[1][0].isdigit():
            if words[:3] == ["http", "server", "enable"]:
                self.http_enabled = True
            return
        sources = AddressSet((cidr_range(f"{words[1]} {words[2]}"),))
        self.base.management.append(
            Management(words[0], words[3], sources, True, (redact_line(head),))
        )

    def on_route(self, words, children, head) -> None:
        default = len(words) >= 5 and is_default_route(f"{words[2]} {words[3]}")
        if default and words[1] not in self.base.default_route_interfaces:
            self.base.default_route_interfaces += (words[1],)

    def on_snmp(self, words, children, head) -> None:
        if len(words) >= 3 and words[1] == "community":
            masked = set(words[2]) == {"*"}
            if masked:
                self.reader.warn(
                    "SNMP community masked in this output; whether it is a default is unknown"
                )
            self.base.snmp.append(
                SnmpCommunity(
                    not masked and words[2].lower() in _DEFAULT_COMMUNITIES,
                    "ro",
                    (redact_line(head),),
                )
            )

    def on_username(self, words, children, head) -> None:
        name = words[1]
        # No service-type is `admin`, which also allows remote access (only nas-prompt does not).
        entry = self.users.setdefault(name, {"lines": [], "service": "admin"})
        entry["lines"].append(redact_line(head))
        if "attributes" in words:
            for child in children:
                if child.startswith("service-type"):
                    entry["service"] = child.split()[1]
                    entry["lines"].append(child)

    def on_crypto(self, words, children, head) -> None:
        # crypto ikev1|ikev2 policy N / crypto ipsec ikev1 transform-set / ikev2 ipsec-proposal
        enc: list[str] = []
        integ: list[str] = []
        groups: list[int] = []
        if words[1] in ("ikev1", "ikev2") and len(words) > 2 and words[2] == "policy":
            defaults_v1 = words[1] == "ikev1"
            for child in children:
                parts = child.split()
                if parts[0] == "encryption":
                    enc += parts[1:]
                elif parts[0] in ("hash", "integrity"):
                    integ += parts[1:]
                elif parts[0] == "group":
                    groups += [int(g) for g in parts[1:] if g.isdigit()]
            if defaults_v1:  # ikev1 policy defaults the running config may omit
                enc, integ, groups = enc or ["3des"], integ or ["sha"], groups or [2]
        elif words[1:3] == ["ipsec", "ikev1"] and len(words) > 4 and words[3] == "transform-set":
            for t in words[5:]:
                (integ if "hmac" in t or t == "esp-none" else enc).append(t)
        elif words[1:3] == ["ipsec", "ikev2"] and len(words) > 4 and words[3] == "ipsec-proposal":
            for child in children:
                parts = child.split()
                if parts[:3] == ["protocol", "esp", "encryption"]:
                    enc += parts[3:]
                elif parts[:3] == ["protocol", "esp", "integrity"]:
                    integ += parts[3:]
        else:
            return
        self.base.vpn_proposals.append(
            VpnProposal(
                " ".join(words[1:]),
                tuple(enc),
                tuple(integ),
                tuple(groups),
                (redact_line(head), *map(redact_line, children)),
            )
        )

    def on_webvpn(self, words, children, head) -> None:
        if any(c.startswith(("enable ", "anyconnect enable")) for c in children):
            self.remote_access = "anyconnect"

    def on_tunnel_group(self, words, children, head) -> None:
        if len(words) >= 4 and words[2] == "type" and words[3] == "remote-access":
            self.remote_access = self.remote_access or "ipsec-xauth"

    def vpn_users(self) -> None:
        if self.http_enabled is False:
            self.base.management = [m for m in self.base.management if m.protocol != "http"]
        for m in self.base.management:
            if m.protocol == "http":
                m.protocol = "https"  # ASDM: the ASA's http server only speaks TLS
        if not self.remote_access:
            return
        for name, entry in self.users.items():
            if entry["service"] in ("admin", "remote-access"):
                self.base.vpn_users.append(
                    VpnUser(name, self.remote_access, True, tuple(entry["lines"]))
                )


_HANDLERS = {
    "name": _Asa.on_name,
    "interface": _Asa.on_interface,
    "object": _Asa.on_object,
    "object-group": _Asa.on_object_group,
    "access-list": _Asa.on_access_list,
    "access-group": _Asa.on_access_group,
    "same-security-traffic": _Asa.on_same_security,
    "nat": _Asa.on_nat,
    "http": _Asa.on_management,
    "ssh": _Asa.on_management,
    "telnet": _Asa.on_management,
    "route": _Asa.on_route,
    "snmp-server": _Asa.on_snmp,
    "username": _Asa.on_username,
    "crypto": _Asa.on_crypto,
    "webvpn": _Asa.on_webvpn,
    "tunnel-group": _Asa.on_tunnel_group,
}

_ACL_LINE = re.compile(r"^access-list (\S+) line (\d+) .*\(hitcnt=(\d+)\)")


def apply_counters(base: RuleBase, output: str) -> None:
    """Hit counts from ``show access-list`` (top-level lines only: the indented ones are the
    object-group expansion of the same entry) and the uptime from ``show version``."""
    reader = Reader(base.platform, base.device)
    hits: dict[str, int] = {}
    for line in reader.lines(output):
        found = _ACL_LINE.match(line)
        if found:
            hits[f"{found.group(1)} line {found.group(2)}"] = int(found.group(3))
            continue
        uptime = re.search(r"\bup (.+)$", line)
        if (
            uptime
            and not line.startswith(("access-list", " "))
            and base.counter_baseline_seconds is None
        ):
            base.counter_baseline_seconds = parse_duration(uptime.group(1))
    for rule in base.rules:
        if rule.id in hits:
            rule.hits = hits[rule.id]
    base.warnings.extend(reader.base.warnings)
