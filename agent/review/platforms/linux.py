"""Linux netfilter -> RuleBase: ``nft -j list ruleset`` (or nft's own text syntax, as in a
``/etc/nftables.conf`` backup) and/or ``iptables-save -c``, plus
what tells the review where the box is reachable (``ss`` listeners, addresses, default route).

Semantics made explicit:
- each base chain of type filter on the input/forward/output hooks (nftables, families ip
  and inet) and each of iptables' INPUT/FORWARD/OUTPUT is a table, in rule order, closed by
  its policy (``policy drop`` / ``:INPUT DROP``; accept when none) as an implicit rule;
- ``jump``/``goto`` into user chains are flattened in place (``_netfilter.Flattener``);
- ct state, ipsets, interface wildcards, rate limits, ``xt`` compat matches, source ports...
  are conditions; ip6-only rules are left out (the model is IPv4);
- the tables iptables-nft keeps inside nftables are read once, from ``iptables-save``;
- several base chains on one hook are all evaluated (an accept in one does not stop the
  next): each is its own table and a warning says so;
- counters (nft ``counter``, ``iptables-save -c``) are the hits; ``/proc/uptime`` bounds the
  baseline (counters also restart when the ruleset is reloaded).
"""

from __future__ import annotations

import re

from agent.review.model import AddressSet, Interface, Management, NatRule, RuleBase, cidr_range
from agent.review.platforms import _iptables, _nft, _nft_text
from agent.review.platforms._common import Reader, ip_range
from agent.review.platforms._netfilter import Flattener, Match

PLATFORM = "linux"
CONFIG_COMMANDS = (
    "nft -j list ruleset",
    "iptables-save -c",
    "ip -4 -o addr show",
    "ip -4 route show default",
    "ss -Htlnu",
)
COUNTER_COMMANDS = ("cat /proc/uptime",)

_HOOKS = ("input", "forward", "output")
_IPTABLES_NFT = {"filter", "nat", "mangle", "raw", "security"}
_LISTENERS = {
    22: "ssh",
    23: "telnet",
    21: "ftp",
    80: "http",
    8080: "http",
    443: "https",
    8443: "https",
    10000: "https",
    161: "snmp",
    3389: "rdp",
    5900: "vnc",
}


def parse(config: str, device: str = "") -> RuleBase:
    reader = Reader(PLATFORM, device)
    ruleset = _nft.load(reader, config)
    start = config.find('{"nftables"')
    text = config if start < 0 else config[:start] + config[start:].partition("\n")[2]
    lines = reader.lines(text)
    if ruleset is None:  # a backup in nft's own syntax (/etc/nftables.conf, nft list ruleset)
        document = _nft_text.document(reader, lines)
        ruleset = _nft.Ruleset(reader, document) if document else None
    tables = _iptables.load(reader, lines)
    chains: dict[str, list[Match]] = {}
    bases: list[tuple[str, str, str, str]] = []  # (table, chain key, policy, why)
    if ruleset is not None:
        # Only the tables iptables-save printed: one it calls incompatible (written with nft
        # itself, e.g. a native `ip nat` table) is left out of its output and read from nft.
        # iptables 1.8.9 still prints an empty '*nat' after that warning: not iptables-nft's.
        native = set(re.findall(r"# Table `(\w+)' contains incompatible base-chains", text))
        listed = (tables.present if tables is not None else set()) - native
        legacy = {
            (f, t) for f, t in ruleset.tables if f == "ip" and t in _IPTABLES_NFT and t in listed
        }
        for key, matches in ruleset.chains.items():
            family, table, _ = key.split(" ", 2)
            if tables is not None and (family, table) in legacy:
                continue  # iptables-nft's own tables: read from iptables-save instead
            chains[key] = matches
        for base in sorted(
            ruleset.bases,
            key=lambda b: (_HOOKS.index(b.hook) if b.hook in _HOOKS else 9, b.priority),
        ):
            family, table, _ = base.chain.split(" ", 2)
            if base.hook not in _HOOKS or (tables is not None and (family, table) in legacy):
                continue
            bases.append(
                (base.table, base.chain, base.policy, f"chain policy {base.policy} ({base.table})")
            )
    if tables is not None:
        chains.update(tables.chains)
        for hook in ("INPUT", "FORWARD", "OUTPUT"):
            policy = tables.policies.get(f"filter {hook}")
            if policy is not None:
                bases.append(
                    (
                        f"iptables filter {hook}",
                        f"filter {hook}",
                        policy.lower(),
                        f":{hook} {policy}",
                    )
                )
    hooks_seen: dict[str, int] = {}
    for table, _, _, _ in bases:
        hook = table.rsplit(" ", 1)[-1].lower()
        hooks_seen[hook] = hooks_seen.get(hook, 0) + 1
    for hook, count in hooks_seen.items():
        if count > 1:
            reader.warn(f"{count} base chains filter the {hook} hook: each is evaluated in turn")
    flattener = Flattener(reader, chains)
    for table, key, policy, why in bases:
        flattener.base_chain(table, key, "accept" if policy == "accept" else "drop", why)
    reader.base.rules.extend(flattener.rules)
    _dnat(reader, chains)
    _host(reader, lines)
    if ruleset is None and tables is None:
        reader.warn("no nftables ruleset (JSON or text) nor iptables-save output found")
    return reader.finish()


def _dnat(reader: Reader, chains: dict[str, list[Match]]) -> None:
    for matches in chains.values():
        for match in matches:
            if match.verdict != "dnat" or not match.target:
                continue
            address, port = _dnat_target(match.target)
            if address is None:
                reader.warn("DNAT target not understood", match.text)
                continue
            service = match.services[0]
            ports = service.ports
            reader.base.nat.append(
                NatRule(
                    id=match.rule_id,
                    zone=match.src_zones[0] if match.src_zones else "",
                    external=match.destinations,
                    protocol=service.protocol,
                    external_ports=ports,
                    internal=AddressSet((ip_range(address),)),
                    internal_ports=((port, port),) if port is not None else ports,
                    lines=(match.text,),
                )
            )


def _dnat_target(target: str) -> tuple[str | None, int | None]:
    """iptables '10.0.0.5:3389' or nft's JSON '{"addr": "10.0.0.5", "port": 3389}'."""
    found = re.search(r'"addr": "([\d.]+)"(?:.*"port": (\d+))?', target)
    if found:
        return found.group(1), int(found.group(2)) if found.group(2) else None
    found = re.fullmatch(r"([\d.]+)(?:-[\d.]+)?(?::(\d+)(?:-\d+)?)?", target)
    if found:
        return found.group(1), int(found.group(2)) if found.group(2) else None
    return None, None


_ADDR = re.compile(r"^\d+:\s+(\S+)\s+inet ([\d.]+/\d+)")
_DEFAULT = re.compile(r"^default (?:via \S+ )?dev (\S+)")
_LISTEN = re.compile(r"^(tcp|udp)\s+(?:LISTEN|UNCONN)\s+\d+\s+\d+\s+(\S+):(\d+)\s")


def _host(reader: Reader, lines: list[str]) -> None:
    base = reader.base
    addresses: dict[str, list[str]] = {}
    cited: dict[str, list[str]] = {}
    for line in lines:
        found = _ADDR.match(line.strip())
        if found:
            name = found.group(1).split("@")[0]
            addresses.setdefault(name, []).append(found.group(2))
            cited.setdefault(name, []).append(line.strip()[:200])
            continue
        found = _DEFAULT.match(line.strip())
        if found and found.group(1) not in base.default_route_interfaces:
            base.default_route_interfaces += (found.group(1),)
    for name, values in addresses.items():
        if name != "lo":
            base.interfaces.append(Interface(name, "", tuple(values), None, tuple(cited[name])))
    owner = {cidr_range(a.split("/")[0])[0]: i.name for i in base.interfaces for a in i.addresses}
    seen: set[tuple[str, str]] = set()
    for line in lines:
        found = _LISTEN.match(line.strip())
        if not found:
            continue
        proto, address, port = (
            found.group(1),
            found.group(2).strip("[]").split("%")[0],
            int(found.group(3)),
        )
        service = _LISTENERS.get(port)
        if (
            service is None
            or (service == "snmp") != (proto == "udp")
            or address.startswith(("127.", "::1"))
        ):
            continue
        interface = ""
        if address not in ("0.0.0.0", "*", "::"):  # noqa: S104
            try:
                interface = owner.get(cidr_range(address)[0], "")
            except ValueError:
                continue  # an IPv6 listener
        if (service, interface) not in seen:
            seen.add((service, interface))
            base.management.append(
                Management(service, interface, AddressSet(), True, (line.strip()[:200],))
            )


def apply_counters(base: RuleBase, output: str) -> None:
    """The hits came with the ruleset; ``/proc/uptime`` gives the baseline's upper bound."""
    reader = Reader(base.platform, base.device)
    for line in reader.lines(output):
        found = re.match(r"^\s*(\d+)(?:\.\d+)?\s+\d+(?:\.\d+)?\s*$", line)
        if found:
            base.counter_baseline_seconds = int(found.group(1))
            break
    base.warnings.extend(reader.base.warnings)
