"""The RouterOS parser's reading of the box: interfaces and their lists, address-lists,
dst-nat, ``/ip service``, PPP secrets, IPsec proposals/profiles, SNMP, the default route."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.review.model import (
    PORT_ANY,
    AddressSet,
    Interface,
    Management,
    NatRule,
    Range,
    SnmpCommunity,
    VpnProposal,
    VpnUser,
    cidr_range,
    merge,
)
from agent.review.platforms._common import Reader, ip_range, is_default_route
from agent.review.platforms._routeros_export import Command

# /ip service as shipped (RouterOS 6.4x-7.x); the export lists only what differs.
_SERVICES = {
    "telnet": ("telnet", True),
    "ftp": ("ftp", True),
    "www": ("http", True),
    "ssh": ("ssh", True),
    "www-ssl": ("https", False),
    "api": ("api", True),
    "winbox": ("winbox", True),
    "api-ssl": ("api-ssl", True),
}
_MODP = {
    "modp768": 1,
    "modp1024": 2,
    "modp1536": 5,
    "modp2048": 14,
    "modp3072": 15,
    "modp4096": 16,
    "modp6144": 17,
    "modp8192": 18,
    "ecp256": 19,
    "ecp384": 20,
    "ecp521": 21,
}
# Defaults of the `default` proposal and profile (RouterOS 6.43+), used when IPsec is set up.
_PROPOSAL_DEFAULT = {
    "auth-algorithms": "sha1",
    "enc-algorithms": "aes-256-cbc,aes-192-cbc,aes-128-cbc",
    "pfs-group": "modp1024",
}
_PROFILE_DEFAULT = {
    "hash-algorithm": "sha1",
    "enc-algorithm": "aes-128,3des",
    "dh-group": "modp2048,modp1024",
}


@dataclass
class Box:
    address_lists: dict[str, tuple[tuple[Range, ...], list[str]]] = field(default_factory=dict)
    interface_lists: dict[str, list[str]] = field(default_factory=dict)
    interfaces: set[str] = field(default_factory=set)


def read_box(reader: Reader, cmds: list[Command]) -> Box:
    box = Box()
    base = reader.base
    lists: dict[str, list[Range]] = {}
    unresolved: dict[str, list[str]] = {}
    addresses: dict[str, list[str]] = {}
    cited: dict[str, list[str]] = {}
    ports: set[str] = set()
    for cmd in cmds:
        for key in ("interface", "in-interface", "out-interface"):
            if cmd.get(key):
                box.interfaces.add(cmd.get(key).lstrip("!"))
        menu_is_interface = cmd.menu.startswith("/interface") and not cmd.menu.startswith(
            "/interface list"
        )
        if menu_is_interface and cmd.verb == "add" and cmd.get("name"):
            box.interfaces.add(cmd.get("name"))
        if cmd.menu == "/interface bridge port":
            ports.add(cmd.get("interface"))  # bridged: the bridge is the L3 interface
        try:
            if cmd.menu == "/ip firewall address-list" and cmd.get("disabled") != "yes":
                name, value = cmd.get("list"), cmd.get("address")
                try:
                    lists.setdefault(name, []).append(ip_range(value))
                except ValueError:
                    unresolved.setdefault(name, []).append(f"address-list {name} entry {value}")
            elif cmd.menu == "/interface list member" and cmd.get("disabled") != "yes":
                box.interface_lists.setdefault(cmd.get("list"), []).append(cmd.get("interface"))
            elif cmd.menu == "/ip address" and cmd.get("disabled") != "yes":
                addresses.setdefault(cmd.get("interface"), []).append(cmd.get("address"))
                cited.setdefault(cmd.get("interface"), []).append(cmd.line)
        except ValueError as exc:
            reader.warn(f"not understood ({exc})", cmd.line)
    box.interfaces -= ports
    for name in {*lists, *unresolved}:
        box.address_lists[name] = (merge(lists.get(name, [])), unresolved.get(name, []))
    zone_of = {}
    for name, members in box.interface_lists.items():
        for member in members:
            zone_of.setdefault(member, name)
    for name in sorted(box.interfaces | set(addresses)):
        zone = zone_of.get(name, "")
        untrusted = True if zone == "WAN" else None  # the defconf list of the uplinks
        base.interfaces.append(
            Interface(
                name, zone, tuple(addresses.get(name, ())), untrusted, tuple(cited.get(name, ()))
            )
        )
    for step in (_routes, _nat, _services, _ppp, _ipsec, _snmp):
        try:
            step(reader, cmds, box)
        except (ValueError, IndexError) as exc:
            reader.warn(f"{step.__name__.strip('_')} not fully understood ({exc})")
    return box


def _routes(reader: Reader, cmds: list[Command], box: Box) -> None:
    base = reader.base
    for cmd in cmds:
        gateway = ""
        if (
            cmd.menu == "/ip route"
            and cmd.verb == "add"
            and is_default_route(cmd.get("dst-address", "0.0.0.0/0"))
        ):
            gateway = cmd.get("gateway").split(",")[0].split("%")[-1]
        elif (
            cmd.menu == "/ip dhcp-client"
            and cmd.verb == "add"
            and cmd.get("add-default-route", "yes") != "no"
        ):
            gateway = cmd.get("interface")
        elif cmd.menu == "/interface pppoe-client" and cmd.get("add-default-route") == "yes":
            gateway = cmd.get("name")
        if not gateway or cmd.get("disabled") == "yes":
            continue
        if gateway[0].isdigit():
            hop = cidr_range(gateway)[0]
            gateway = next(
                (
                    i.name
                    for i in base.interfaces
                    if any(cidr_range(a)[0] <= hop <= cidr_range(a)[1] for a in i.addresses)
                ),
                "",
            )
        if gateway and gateway not in base.default_route_interfaces:
            base.default_route_interfaces += (gateway,)


def _nat(reader: Reader, cmds: list[Command], box: Box) -> None:
    for n, cmd in enumerate(c for c in cmds if c.menu == "/ip firewall nat" and c.verb == "add"):
        if cmd.get("action") not in ("dst-nat", "netmap") or cmd.get("disabled") == "yes":
            continue
        external = AddressSet()
        if cmd.get("dst-address") and not cmd.get("dst-address").startswith("!"):
            external = AddressSet((ip_range(cmd.get("dst-address")),))
        protocol = cmd.get("protocol", "any")
        ports = PORT_ANY
        if cmd.get("dst-port"):
            lo, _, hi = cmd.get("dst-port").split(",")[0].partition("-")
            ports = ((int(lo), int(hi or lo)),)
        internal = (
            AddressSet((ip_range(cmd.get("to-addresses")),))
            if cmd.get("to-addresses")
            else external
        )
        to_ports = ports
        if cmd.get("to-ports"):
            lo, _, hi = cmd.get("to-ports").partition("-")
            to_ports = ((int(lo), int(hi or lo)),)
        zone = cmd.get("in-interface").lstrip("!") or cmd.get("in-interface-list").lstrip("!")
        members = box.interface_lists.get(zone, [])
        zone = members[0] if len(members) == 1 else zone
        reader.base.nat.append(
            NatRule(
                f"nat {n}",
                zone,
                external,
                protocol,
                ports,
                internal,
                to_ports,
                (cmd.line,),
                cmd.get("comment"),
            )
        )


def _services(reader: Reader, cmds: list[Command], box: Box) -> None:
    state = {name: [enabled, AddressSet(), []] for name, (_, enabled) in _SERVICES.items()}
    for cmd in cmds:
        if cmd.menu != "/ip service" or cmd.verb != "set" or cmd.target not in state:
            continue
        entry = state[cmd.target]
        entry[2].append(cmd.line)
        if "disabled" in cmd.args:
            entry[0] = cmd.get("disabled") != "yes"
        if cmd.get("address"):
            entry[1] = AddressSet(
                merge([cidr_range(a) for a in cmd.get("address").split(",") if a and ":" not in a])
            )
    for name, (enabled, sources, lines) in state.items():
        cited = tuple(lines) or (
            f"(default) /ip service {name} {'enabled' if enabled else 'disabled'}",
        )
        reader.base.management.append(Management(_SERVICES[name][0], "", sources, enabled, cited))


def _ppp(reader: Reader, cmds: list[Command], box: Box) -> None:
    for cmd in cmds:
        if cmd.menu == "/ppp secret" and cmd.verb == "add" and cmd.get("service", "any") != "pppoe":
            reader.base.vpn_users.append(
                VpnUser(
                    cmd.get("name"),
                    cmd.get("service", "any"),
                    cmd.get("disabled") != "yes",
                    (cmd.line,),
                )
            )


def _ipsec(reader: Reader, cmds: list[Command], box: Box) -> None:
    used = any(c.menu in ("/ip ipsec peer", "/ip ipsec identity") for c in cmds) or any(
        c.menu == "/interface l2tp-server server" and c.get("use-ipsec") in ("yes", "required")
        for c in cmds
    )
    for menu, defaults, enc_key, int_key, dh_key in (
        ("/ip ipsec proposal", _PROPOSAL_DEFAULT, "enc-algorithms", "auth-algorithms", "pfs-group"),
        ("/ip ipsec profile", _PROFILE_DEFAULT, "enc-algorithm", "hash-algorithm", "dh-group"),
    ):
        found = {}
        for cmd in cmds:
            if cmd.menu == menu:
                name = cmd.get("name") or cmd.target or "default"
                args, lines = found.setdefault(
                    name, (dict(defaults) if name == "default" else {}, [])
                )
                args.update(cmd.args)
                lines.append(cmd.line)
        if used and "default" not in found:
            found["default"] = (
                dict(defaults),
                [f"(default) {menu} default: " + " ".join(f"{k}={v}" for k, v in defaults.items())],
            )
        for name, (args, lines) in found.items():
            groups = tuple(_MODP[g] for g in args.get(dh_key, "").split(",") if g in _MODP)
            reader.base.vpn_proposals.append(
                VpnProposal(
                    f"{menu.split()[-1]} {name}",
                    tuple(filter(None, args.get(enc_key, "").split(","))),
                    tuple(filter(None, args.get(int_key, "").split(","))),
                    groups,
                    tuple(lines),
                )
            )


def _snmp(reader: Reader, cmds: list[Command], box: Box) -> None:
    enabled = any(c.menu == "/snmp" and c.get("enabled") == "yes" for c in cmds)
    if not enabled:
        return
    # The community name is the credential: cite the line without it.
    communities = {"default": ("public", "(default) /snmp community default name=<redacted>")}
    for cmd in cmds:
        if cmd.menu == "/snmp community":
            key = (cmd.target if cmd.verb == "set" else cmd.get("name")) or "default"
            name = cmd.get("name", communities.get(key, ("",))[0])
            communities[key] = (name, re.sub(r'\bname=("[^"]*"|\S+)', "name=<redacted>", cmd.line))
    for name, line in communities.values():
        reader.base.snmp.append(SnmpCommunity(name.lower() in ("public", "private"), "ro", (line,)))
