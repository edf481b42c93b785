"""ASA ``object`` / ``object-group`` definitions expanded to ranges and services.

``show running-config`` lists objects before the ACLs that use them, but groups may nest
in any order and an object appears twice (its address, then its NAT): groups are expanded
once every definition is known.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.review.model import IPV4_ANY, PORT_ANY, Range, Service, cidr_range, merge
from agent.review.platforms._cisco_ace import Objects
from agent.review.platforms._common import (
    Reader,
    complement_ports,
    ip_range,
    port_number,
    protocol_name,
)


class AsaObjects:
    """Mixin of the ASA parser: fills ``self.objects`` from object and object-group blocks."""

    reader: Reader
    objects: Objects
    groups: dict[str, dict[str, tuple[list[str], list[str]]]]

    object_nat: Callable[..., None]  # the parser's: an object's `nat` line is a NatRule

    def on_object(self, words, children, head) -> None:
        kind, name = words[1], words[2]
        if kind == "network":
            # `show running-config` lists an object twice: its address first, its NAT later.
            known, known_conditions = self.objects.networks.get(name, ((), ()))
            ranges: list[Range] = list(known)
            conditions: list[str] = list(known_conditions)
            for child in children:
                parts = child.split()
                if parts[0] in ("host", "subnet", "range") and ":" in parts[1]:
                    self.objects.ipv6.add(name)  # entries using it match IPv6 only
                    continue
                if parts[0] == "host":
                    ranges.append(cidr_range(parts[1]))
                elif parts[0] == "subnet":
                    ranges.append(cidr_range(f"{parts[1]} {parts[2]}"))
                elif parts[0] == "range":
                    ranges.append(ip_range(f"{parts[1]}-{parts[2]}"))
                elif parts[0] == "fqdn":
                    conditions.append(f"fqdn object {name}")
                elif parts[0] == "nat":
                    self.object_nat(name, ranges, parts, head, child)
            widened = IPV4_ANY if conditions else merge(ranges)
            self.objects.networks[name] = (widened, tuple(dict.fromkeys(conditions)))
        elif kind == "service":
            services: list[Service] = []
            conditions = []
            for child in children:
                parts = child.split()
                if parts[0] == "service":
                    services.extend(self.service_spec(parts[1:], conditions))
            self.objects.services[name] = (tuple(services), tuple(conditions))

    def service_spec(self, parts: list[str], conditions: list[str]) -> list[Service]:
        """'tcp destination eq 80', 'tcp source range 1 9 destination eq https', 'icmp echo',
        'tcp eq 80' (legacy: destination), 'ip', '47'."""
        protocol = parts[0].lower()
        ports: tuple[Range, ...] = PORT_ANY
        rest = parts[1:]
        if protocol in ("tcp", "udp", "tcp-udp", "sctp"):
            i = 0
            while i < len(rest):
                side = "destination"
                if rest[i] in ("source", "destination"):
                    side, i = rest[i], i + 1
                op = rest[i]
                if op == "range":
                    span: tuple[Range, ...] = (
                        (port_number(rest[i + 1]), port_number(rest[i + 2])),
                    )
                    i += 3
                else:
                    value = port_number(rest[i + 1])
                    span = {
                        "eq": ((value, value),),
                        "lt": ((0, value - 1),),
                        "gt": ((value + 1, 65535),),
                        "neq": complement_ports(((value, value),)),
                    }[op]
                    i += 2
                if side == "source":
                    conditions.append("source ports " + " ".join(rest[:i]))
                else:
                    ports = span
            protos = (
                ("tcp", "udp")
                if protocol == "tcp-udp"
                else (protocol if protocol != "sctp" else "132",)
            )
            return [Service(p, ports, " ".join(parts)) for p in protos]
        if protocol == "icmp" and rest:
            conditions.append("icmp type " + " ".join(rest))
        return [Service(protocol_name(protocol), PORT_ANY, " ".join(parts))]

    def on_object_group(self, words, children, head) -> None:
        kind, name = words[1], words[2]
        self.groups.setdefault(kind, {})[name] = (words[3:], children)

    def network_groups(self) -> None:
        """Expand object-groups once every object is known (groups may nest, in any order).
        A group that cannot be read is widened to anything and says so (a condition), or,
        for a port or protocol group, left undefined so the entries using it are warned
        about and left out: never narrower than the device's."""
        unreadable = (ValueError, IndexError, KeyError)
        for name in self.groups.get("network", {}):
            try:
                self.objects.networks[name] = self._network_group(name, frozenset())
                children = self.groups["network"][name][1]
                v6 = [c for c in children if ":" in c or c.split()[-1] in self.objects.ipv6]
                if v6 and not self.objects.networks[name][0]:
                    self.objects.ipv6.add(name)
            except unreadable as exc:
                self.reader.warn(f"object-group network {name} not understood ({exc})")
                self.objects.networks[name] = (IPV4_ANY, (f"unreadable object-group {name}",))
        for name, (params, children) in self.groups.get("service", {}).items():
            conditions: list[str] = []
            try:
                if params:  # 'object-group service NAME tcp': a port group
                    ports = [r for c in children for r in self._port_object(c.split(), name)]
                    self.objects.port_groups[name] = (params[0], merge(ports))
                else:
                    services = tuple(self._service_group(name, frozenset(), conditions))
                    self.objects.services[name] = (services, tuple(conditions))
            except unreadable as exc:
                self.reader.warn(f"object-group service {name} not understood ({exc})")
                if not params:
                    self.objects.services[name] = (
                        (Service(),),
                        (f"unreadable object-group {name}",),
                    )
        for name, (_, children) in self.groups.get("protocol", {}).items():
            try:
                protos = [p.split()[1] for p in children if p.startswith("protocol-object ")]
                self.objects.protocols[name] = tuple(protocol_name(p) for p in protos)
            except unreadable as exc:
                self.reader.warn(f"object-group protocol {name} not understood ({exc})")
        for name in self.groups.get("icmp-type", {}):
            self.objects.services.setdefault(
                name, ((Service("icmp"),), (f"icmp-type group {name}",))
            )

    def _network_group(
        self, name: str, seen: frozenset[str]
    ) -> tuple[tuple[Range, ...], tuple[str, ...]]:
        ranges: list[Range] = []
        conditions: list[str] = []
        for child in self.groups.get("network", {}).get(name, ([], []))[1]:
            parts = child.split()
            if parts[0] == "network-object":
                if parts[1] == "host":
                    ranges.append(cidr_range(self.objects.names.get(parts[2], parts[2])))
                elif parts[1] == "object":
                    r, c = self.objects.networks.get(
                        parts[2], (IPV4_ANY, (f"undefined object {parts[2]}",))
                    )
                    ranges.extend(r)
                    conditions.extend(c)
                else:
                    ranges.append(
                        cidr_range(f"{self.objects.names.get(parts[1], parts[1])} {parts[2]}")
                    )
            elif parts[0] == "group-object" and parts[1] not in seen:
                r, c = self._network_group(parts[1], seen | {name})
                ranges.extend(r)
                conditions.extend(c)
        return merge(ranges), tuple(conditions)

    def _port_object(self, parts: list[str], group: str) -> list[Range]:
        if parts[0] == "port-object":
            if parts[1] == "range":
                return [(port_number(parts[2]), port_number(parts[3]))]
            return [(port_number(parts[2]),) * 2]
        if parts[0] == "group-object":
            return list(self.objects.port_groups.get(parts[1], ("", ()))[1]) or [
                r
                for c in self.groups["service"].get(parts[1], ([], []))[1]
                for r in self._port_object(c.split(), parts[1])
            ]
        return []

    def _service_group(
        self, name: str, seen: frozenset[str], conditions: list[str]
    ) -> list[Service]:
        out: list[Service] = []
        for child in self.groups.get("service", {}).get(name, ([], []))[1]:
            parts = child.split()
            if parts[0] == "service-object":
                if parts[1] == "object":
                    if parts[2] not in self.objects.services:
                        conditions.append(f"undefined service object {parts[2]}")
                    undefined = ((Service(),), ())
                    services, conds = self.objects.services.get(parts[2], undefined)
                    out.extend(services)
                    conditions.extend(conds)
                else:
                    out.extend(self.service_spec(parts[1:], conditions))
            elif parts[0] == "group-object" and parts[1] not in seen:
                out.extend(self._service_group(parts[1], seen | {name}, conditions))
        return out
