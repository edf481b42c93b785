"""MikroTik RouterOS ``/export`` -> RuleBase.

Semantics made explicit:
- ``/ip firewall filter`` rules are evaluated per chain in export order (table
  ``'filter/<chain>'``); the built-in chains input and forward (and output when it has
  rules) ACCEPT what no rule decided: an implicit accept closes each of them;
- a ``jump`` into a user chain is flattened: the user chain's rules are inserted in its place
  (ids ``filter <n> via <jump n>``); when the jump rule itself matches something, or a
  conditional ``return`` precedes them, they carry that as a condition (they match at most
  what the model shows); non-terminal actions (passthrough, log, add-*-to-address-list,
  fasttrack-connection) decide nothing and are left out;
- ``connection-state``, ``connection-nat-state``, ``ipsec-policy``, ``limit``, ``time``,
  ``src-port``... are conditions (``Rule.conditions``); address-lists are expanded (DNS names
  in them are conditions); ``in-interface-list`` is expanded to its member interfaces, a
  negated one to the other interfaces the export names;
- ``/ip firewall nat`` dst-nat -> NatRule; ``/ip service`` -> Management with the firmware
  defaults the export omits (telnet, ftp, www, ssh, api, api-ssl, winbox enabled, www-ssl
  disabled); ``/ppp secret`` (except pppoe) -> VpnUser, the password never kept; IPsec
  proposals and profiles (with the defaults when IPsec is used); SNMP's default community.
- rule ids are ``filter <n>``, n the rule's place among the export's filter rules (what
  ``print`` numbers, dynamic rules aside), so ``print stats`` counters map back.
"""

from __future__ import annotations

import re

from agent.review.model import (
    PORT_ANY,
    AddressSet,
    Range,
    Rule,
    RuleBase,
    Service,
    merge,
)
from agent.review.platforms._common import (
    Reader,
    complement_ports,
    implicit_rule,
    ip_range,
    parse_duration,
    protocol_name,
)
from agent.review.platforms._routeros_box import read_box
from agent.review.platforms._routeros_export import Command, commands

PLATFORM = "mikrotik_routeros"
CONFIG_COMMANDS = ("/export",)
COUNTER_COMMANDS = ("/system resource print", "/ip firewall filter print stats without-paging")

_TERMINAL = {"accept": "permit", "drop": "deny", "reject": "deny", "tarpit": "deny"}
_NOT_MATCHES = {
    "chain",
    "action",
    "comment",
    "log",
    "log-prefix",
    "disabled",
    "jump-target",
    "reject-with",
    "address-list",
    "address-list-timeout",
    "place-before",
    "to-addresses",
    "to-ports",
    "src-address",
    "dst-address",
    "src-address-list",
    "dst-address-list",
    "protocol",
    "dst-port",
    "in-interface",
    "out-interface",
    "in-interface-list",
    "out-interface-list",
}
_BUILTIN_CHAINS = ("input", "forward", "output")
# RouterOS protocol names beyond the common ones (`/ip firewall filter protocol=`).
_ROS_PROTOCOLS = {"ipsec-esp": "50", "ipsec-ah": "51", "ip-encap": "4", "etherip": "97",
                  "udp-lite": "136", "dccp": "33", "rsvp": "46", "encap": "98", "ggp": "3",
                  "egp": "8", "rdp": "27", "ipv6-encap": "41", "st": "5", "hmp": "20"}  # fmt: skip
_MAX_JUMP_DEPTH = 8


def parse(config: str, device: str = "") -> RuleBase:
    reader = Reader(PLATFORM, device)
    cmds = commands(reader, reader.lines(config))
    box = read_box(reader, cmds)
    _Filter(
        reader, box, [c for c in cmds if c.menu == "/ip firewall filter" and c.verb == "add"]
    ).read()
    if any(c.menu == "/ip firewall raw" and c.get("action") == "drop" for c in cmds):
        reader.warn("/ip firewall raw drops traffic before the filter: not modelled")
    return reader.finish()


class _Filter:
    def __init__(self, reader: Reader, box, rules: list[Command]) -> None:
        self.reader, self.box, self.base = reader, box, reader.base
        self.by_chain: dict[str, list[tuple[int, Command]]] = {}
        for n, cmd in enumerate(rules):
            self.by_chain.setdefault(cmd.get("chain"), []).append((n, cmd))
        self.positions: dict[str, int] = {}

    def read(self) -> None:
        jumped = {c.get("jump-target") for rules in self.by_chain.values() for _, c in rules}
        for chain in self.by_chain:
            if chain not in _BUILTIN_CHAINS and chain not in jumped:
                self.reader.warn(f"chain {chain!r} is never jumped to: its rules filter nothing")
        for chain in _BUILTIN_CHAINS:
            if chain == "output" and chain not in self.by_chain:
                continue
            table = f"filter/{chain}"
            self.emit(table, chain, [], [], "", 0)
            why = f"RouterOS accepts what no rule of chain {chain} dropped"
            self.base.rules.append(
                implicit_rule(table, self.positions.get(table, 0), "permit", why)
            )

    def emit(
        self, table: str, chain: str, via: list[str], via_lines: list[str], via_id: str, depth: int
    ) -> None:
        after_return: list[str] = []
        for n, cmd in self.by_chain.get(chain, []):
            action = cmd.get("action", "accept")
            if action == "jump":
                target = cmd.get("jump-target")
                if depth >= _MAX_JUMP_DEPTH or target in _BUILTIN_CHAINS:
                    self.reader.warn(f"jump to {target!r} not followed", cmd.line)
                    continue
                matches = self.describe(cmd)
                cond = [f"reached by jump rule {n} ({matches})"] if matches else []
                if cmd.get("disabled") != "yes":
                    self.emit(
                        table,
                        target,
                        via + after_return + cond,
                        [*via_lines, cmd.line],
                        f"{via_id} via {n}" if via_id else f" via {n}",
                        depth + 1,
                    )
                continue
            if action == "return":
                matches = self.describe(cmd)
                if not matches and cmd.get("disabled") != "yes":
                    return
                after_return.append(f"after a return in chain {chain} ({matches})")
                continue
            if action not in _TERMINAL:
                continue  # passthrough, log, add-*-to-address-list, fasttrack: no decision
            try:
                rule = self.rule(table, n, cmd, via + after_return, via_lines, via_id)
            except ValueError as exc:
                self.reader.warn(f"filter rule not understood ({exc}); left out", cmd.line)
                continue
            self.base.rules.append(rule)

    def describe(self, cmd: Command) -> str:
        return " ".join(
            f"{k}={v}"
            for k, v in cmd.args.items()
            if k
            not in ("chain", "action", "comment", "jump-target", "disabled", "log", "log-prefix")
        )

    def rule(
        self, table: str, n: int, cmd: Command, via: list[str], via_lines: list[str], via_id: str
    ) -> Rule:
        conditions = list(via)
        for key, value in cmd.args.items():
            if key not in _NOT_MATCHES:
                conditions.append(f"{key}={value}")
        sources = self.addresses(cmd, "src", conditions)
        destinations = self.addresses(cmd, "dst", conditions)
        position = self.positions.get(table, 0)
        self.positions[table] = position + 1
        return Rule(
            id=f"filter {n}{via_id}",
            table=table,
            position=position,
            action=_TERMINAL[cmd.get("action", "accept")],
            sources=sources,
            destinations=destinations,
            services=self.services(cmd, conditions),
            src_zones=self.zones(cmd, "in", conditions),
            dst_zones=self.zones(cmd, "out", conditions),
            log=cmd.get("log") == "yes",
            enabled=cmd.get("disabled") != "yes",
            comment=cmd.get("comment"),
            lines=(*via_lines, cmd.line),
            conditions=tuple(conditions),
        )

    def addresses(self, cmd: Command, side: str, conditions: list[str]) -> AddressSet:
        value = cmd.get(f"{side}-address")
        listed = cmd.get(f"{side}-address-list")
        if value and listed:
            conditions.append(f"{side}-address-list={listed}")  # both: keep the address only
            listed = ""
        if value:
            negated = value.startswith("!")
            return AddressSet((ip_range(value.lstrip("!")),), negated, (value,))
        if listed:
            negated = listed.startswith("!")
            name = listed.lstrip("!")
            ranges, unresolved = self.box.address_lists.get(name, ((), [f"undefined list {name}"]))
            if unresolved and negated:
                conditions.extend(unresolved)
                return AddressSet(merge(list(ranges)), True, (listed,))
            if unresolved:
                conditions.extend(unresolved)
                return AddressSet(names=(listed,))
            return AddressSet(merge(list(ranges)), negated, (listed,))
        return AddressSet()

    def services(self, cmd: Command, conditions: list[str]) -> tuple[Service, ...]:
        protocol = cmd.get("protocol")
        if protocol.startswith("!"):
            conditions.append(f"protocol={protocol}")
            protocol = ""
        try:
            proto = protocol_name(_ROS_PROTOCOLS.get(protocol, protocol)) if protocol else "any"
        except ValueError:
            conditions.append(f"protocol={protocol}")  # widened to any, never left out
            proto = "any"
        ports: tuple[Range, ...] = PORT_ANY
        dst = cmd.get("dst-port")
        if dst and proto in ("tcp", "udp", "132"):
            negated = dst.startswith("!")
            spans = []
            for part in dst.lstrip("!").split(","):
                lo, _, hi = part.partition("-")
                spans.append((int(lo), int(hi or lo)))
            ports = complement_ports(tuple(spans)) if negated else merge(spans)
        return (Service(proto, ports, protocol),)

    def zones(self, cmd: Command, side: str, conditions: list[str]) -> tuple[str, ...]:
        iface = cmd.get(f"{side}-interface")
        listed = cmd.get(f"{side}-interface-list")
        names: set[str] = set()
        negated = False
        if iface:
            negated = iface.startswith("!")
            names = {iface.lstrip("!")}
        elif listed:
            negated = listed.startswith("!")
            name = listed.lstrip("!")
            if name in ("all", "none", "dynamic", "static"):
                if name != "all":
                    conditions.append(f"{side}-interface-list={listed}")
                return ()
            names = set(self.box.interface_lists.get(name, ()))
            if not names:
                conditions.append(f"empty or unknown interface list {name}")
                return ()
        if not names:
            return ()
        if negated:
            others = sorted(self.box.interfaces - names)
            return tuple(others) if others else (f"not {'/'.join(sorted(names))}",)
        return tuple(sorted(names))


_NUMBER = r"\d{1,3}(?: \d{3})*"  # RouterOS groups thousands with single spaces
_TAIL = re.compile(rf"({_NUMBER})\s{{2,}}({_NUMBER})\s*$")


def apply_counters(base: RuleBase, output: str) -> None:
    """Packets per rule from ``/ip firewall filter print stats`` (BYTES and PACKETS, the last
    two columns, thousands separated by single spaces, columns by two or more) and the
    uptime from ``/system resource print``. Dynamic rules (flag D) are not in the export."""
    reader = Reader(base.platform, base.device)
    packets: dict[int, int] = {}
    current: int | None = None
    seen = -1
    table = False
    for line in reader.lines(output):
        uptime = re.match(r"\s*uptime:\s*(\S+)", line)
        if uptime:
            base.counter_baseline_seconds = parse_duration(uptime.group(1))
            continue
        if "BYTES" in line and "PACKETS" in line:
            table = True
            continue
        if not table:
            continue
        head = re.match(r"^\s*(\d+)\s+(?:([XID]+)\s+)?", line)
        if head:
            if "D" in (head.group(2) or ""):
                current = None
            else:
                seen += 1
                current = seen
        tail = _TAIL.search(line)
        if tail and current is not None and ";;;" not in line:
            packets[current] = int(tail.group(2).replace(" ", ""))
    for rule in base.rules:
        found = re.fullmatch(r"filter (\d+)", rule.id)
        if found and int(found.group(1)) in packets:
            rule.hits = packets[int(found.group(1))]
    base.warnings.extend(reader.base.warnings)
