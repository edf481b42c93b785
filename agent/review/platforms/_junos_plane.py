"""The Junos parser's reading of the box itself: destination/static NAT, the management
plane (``system services`` x ``host-inbound-traffic``), SNMP, IKE/IPsec proposals and the
remote-access users of access profiles an IKE gateway or dynamic VPN uses.
"""

from __future__ import annotations

from agent.review.model import (
    PORT_ANY,
    AddressSet,
    Interface,
    Management,
    NatRule,
    Range,
    RuleBase,
    SnmpCommunity,
    VpnProposal,
    VpnUser,
    cidr_range,
    merge,
)
from agent.review.platforms._common import redact_line
from agent.review.platforms._junos_set import Statement

_DEFAULT_COMMUNITIES = {"public", "private", "community", "snmp"}
_MGMT_SERVICES = {"ssh", "telnet", "http", "https", "ftp", "netconf", "snmp", "ping"}


class JunosPlane:
    """Mixin of the Junos parser (needs ``stmts``, ``base``, ``zone_of``, ``under``)."""

    stmts: list[Statement]
    base: RuleBase
    zone_of: dict[str, str]
    grant_cache: dict[tuple[str, ...], dict[str, list[str]]]

    def under(self, *prefix: str) -> list[Statement]:
        n = len(prefix)
        return [s for s in self.stmts if s.words[:n] == prefix]

    def nat(self) -> None:
        pools: dict[str, tuple[list[Range], tuple[Range, ...]]] = {}
        for s in self.under("security", "nat", "destination", "pool"):
            w = s.words  # security nat destination pool P address A [port N]
            if len(w) > 6 and w[5] == "address":
                addresses, _ = pools.setdefault(w[4], ([], PORT_ANY))
                addresses.append(cidr_range(w[6]))
                if len(w) > 8 and w[7] == "port":
                    pools[w[4]] = (addresses, ((int(w[8]), int(w[8])),))
        for kind in ("destination", "static"):
            rules: dict[tuple[str, str], list[Statement]] = {}
            zone_of: dict[str, str] = {}
            for s in self.under("security", "nat", kind, "rule-set"):
                w = s.words  # security nat KIND rule-set RS (from zone Z | rule R ...)
                if w[5:7] == ("from", "zone") and len(w) > 7:
                    zone_of[w[4]] = w[7]
                elif w[5:6] == ("rule",) and len(w) > 6:
                    rules.setdefault((w[4], w[6]), []).append(s)
            for (rule_set, name), stmts in rules.items():
                self.nat_rule(kind, rule_set, name, stmts, zone_of.get(rule_set, ""), pools)

    def nat_rule(self, kind, rule_set, name, stmts, zone, pools) -> None:
        external: list[Range] = []
        internal: list[Range] = []
        protocol, ext_ports, int_ports = "any", PORT_ANY, PORT_ANY
        for s in stmts:
            rest = s.words[7:]
            if rest[:2] == ("match", "destination-address") and len(rest) > 2:
                external.append(cidr_range(rest[2]))
            elif rest[:2] == ("match", "destination-port") and len(rest) > 2:
                hi = rest[4] if len(rest) > 4 and rest[3] == "to" else rest[2]
                ext_ports = ((int(rest[2]), int(hi)),)
                int_ports = ext_ports if int_ports == PORT_ANY else int_ports
            elif rest[:2] == ("match", "protocol") and len(rest) > 2:
                protocol = rest[2]
            elif rest[:2] == ("then", "destination-nat") and rest[2:3] == ("pool",):
                addresses, ports = pools.get(rest[3], ([], PORT_ANY))
                internal.extend(addresses)
                int_ports = ports if ports != PORT_ANY else ext_ports
            elif rest[:3] == ("then", "static-nat", "prefix") and len(rest) > 3:
                internal.append(cidr_range(rest[3]))
        if protocol == "any" and ext_ports != PORT_ANY:
            protocol = "tcp"  # a destination-port match without protocol matches tcp and udp
        self.base.nat.append(
            NatRule(
                id=f"{kind} {rule_set} {name}",
                zone=zone,
                external=AddressSet(merge(external)),
                protocol=protocol,
                external_ports=ext_ports,
                internal=AddressSet(merge(internal)),
                internal_ports=int_ports,
                lines=tuple(redact_line(s.text) for s in stmts),
                name=name,
            )
        )

    def management(self) -> None:
        enabled: dict[str, list[str]] = {}
        only_on: dict[str, set[str]] = {}  # web-management http(s) interface X
        for s in self.under("system", "services"):
            w = s.words
            if len(w) < 3:
                continue
            service = w[2]
            if service == "web-management" and len(w) > 3 and w[3] in ("http", "https"):
                service = w[3]
                if w[4:5] == ("interface",) and len(w) > 5:
                    only_on.setdefault(service, set()).add(w[5])
            if service in _MGMT_SERVICES:
                enabled.setdefault(service, []).append(redact_line(s.text))
        if any(s.words[:2] == ("snmp", "community") for s in self.stmts):
            enabled.setdefault("snmp", [])
        enabled.setdefault("ping", [])  # answered unless host-inbound-traffic forbids it
        for iface in self.base.interfaces:
            for service, lines in enabled.items():
                why = self.host_inbound(iface, service)
                if service in only_on and iface.name not in only_on[service]:
                    why = None
                if why is not None:
                    cited = tuple(lines + why) or (
                        f"(default) {service} answers on every interface",
                    )
                    self.base.management.append(
                        Management(service, iface.name, AddressSet(), True, cited)
                    )
        for s in self.under("snmp", "community"):
            if len(s.words) > 2:
                access = "rw" if "read-write" in s.words else "ro"
                self.base.snmp.append(
                    SnmpCommunity(
                        s.words[2].lower() in _DEFAULT_COMMUNITIES, access, (redact_line(s.text),)
                    )
                )

    def host_inbound(self, iface: Interface, service: str) -> list[str] | None:
        """The lines letting ``service`` in on ``iface``, or None when the SRX drops it.

        Interface-level host-inbound-traffic replaces the zone's; an interface in no zone
        passes nothing on an SRX, except the out-of-band port (fxp0/em0) and any interface of
        a box with no security zones at all (packet mode: EX, MX)."""
        if not self.zone_of:
            return []
        if not iface.zone:
            return [] if iface.name.startswith(("fxp", "em0", "me0")) else None
        own = self.grants(
            ("security", "zones", "security-zone", iface.zone, "interfaces", iface.name)
        )
        grants = own if own else self.grants(("security", "zones", "security-zone", iface.zone))
        if service in grants:
            return grants[service]
        if "all" in grants and not any(g == f"{service} except" for g in grants):
            return grants["all"]
        return None

    def grants(self, owner: tuple[str, ...]) -> dict[str, list[str]]:
        if owner in self.grant_cache:
            return self.grant_cache[owner]
        found: dict[str, list[str]] = self.grant_cache.setdefault(owner, {})
        n = len(owner)
        for s in self.stmts:
            rest = s.words[n:]
            if (
                s.words[:n] == owner
                and rest[:2] == ("host-inbound-traffic", "system-services")
                and len(rest) > 2
            ):
                key = rest[2] if rest[-1] != "except" else f"{rest[2]} except"
                found.setdefault(key, []).append(redact_line(s.text))
        return found

    def vpn(self) -> None:
        for kind in ("ike", "ipsec"):
            props: dict[str, dict[str, list[str]]] = {}
            cited: dict[str, list[str]] = {}
            for s in self.under("security", kind, "proposal"):
                if len(s.words) > 5:
                    props.setdefault(s.words[3], {}).setdefault(s.words[4], []).append(s.words[5])
                    cited.setdefault(s.words[3], []).append(redact_line(s.text))
            for name, fields in props.items():
                groups = [
                    int(g.removeprefix("group"))
                    for g in fields.get("dh-group", [])
                    if g.removeprefix("group").isdigit()
                ]
                self.base.vpn_proposals.append(
                    VpnProposal(
                        f"{kind} proposal {name}",
                        tuple(fields.get("encryption-algorithm", ())),
                        tuple(fields.get("authentication-algorithm", ())),
                        tuple(groups),
                        tuple(cited[name]),
                    )
                )
        # Access profiles an IKE gateway (xauth), dynamic VPN or remote-access profile uses.
        kinds = {("security", "ike"): "ipsec-xauth", ("security", "dynamic-vpn"): "dynamic-vpn",
                 ("security", "remote-access"): "remote-access"}  # fmt: skip
        profiles: dict[str, str] = {}
        for s in self.stmts:
            if "access-profile" in s.words and s.words[:2] in kinds:
                profiles.setdefault(
                    s.words[s.words.index("access-profile") + 1], kinds[s.words[:2]]
                )
        users: dict[str, tuple[str, list[str]]] = {}
        for s in self.under("access", "profile"):
            if len(s.words) > 4 and s.words[2] in profiles and s.words[3] == "client":
                users.setdefault(s.words[4], (profiles[s.words[2]], []))[1].append(
                    redact_line(s.text)
                )
        for name, (kind, lines) in users.items():
            self.base.vpn_users.append(VpnUser(name, kind, True, tuple(lines)))
