"""``nft -j list ruleset`` (libnftables JSON schema 1) -> base chains of Matches."""

from __future__ import annotations

import json
from dataclasses import dataclass

from agent.review.model import PORT_ANY, AddressSet, Range, Service, merge
from agent.review.platforms._common import Reader, complement_ports, inert, ip_range, protocol_name
from agent.review.platforms._netfilter import Match

MAX_JSON_CHARS = 64 * 1024 * 1024
_NO_EFFECT = {"counter", "comment", "meta", "mangle", "notrack", "masquerade", "snat", "continue"}


@dataclass
class BaseChain:
    table: str  # 'inet filter input'
    chain: str  # key into Ruleset.chains
    hook: str
    policy: str
    priority: int


@dataclass
class DstNat:
    zone: str
    destinations: AddressSet
    protocol: str
    ports: tuple[Range, ...]
    to_address: str
    to_ports: tuple[Range, ...]
    text: str


class Ruleset:
    def __init__(self, reader: Reader, document: dict) -> None:
        self.reader = reader
        self.sets: dict[str, list] = {}
        self.chains: dict[str, list[Match]] = {}
        self.bases: list[BaseChain] = []
        self.dnat: list[DstNat] = []
        self.tables: set[tuple[str, str]] = set()
        items = document.get("nftables", []) if isinstance(document, dict) else []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            for kind, body in item.items():
                if isinstance(body, dict):
                    self._item(kind, body)

    def _item(self, kind: str, body: dict) -> None:
        family, table = str(body.get("family", "")), str(body.get("table", body.get("name", "")))
        if kind == "table":
            self.tables.add((family, table))
        elif kind == "set":
            self.sets[f"{family} {table} {body.get('name')}"] = body.get("elem", []) or []
        elif kind == "chain":
            key = f"{family} {table} {body.get('name')}"
            self.chains.setdefault(key, [])
            if (
                body.get("hook")
                and body.get("type", "filter") == "filter"
                and family in ("ip", "inet")
            ):
                prio = body.get("prio", 0)
                self.bases.append(
                    BaseChain(
                        inert(key),
                        key,
                        str(body.get("hook")),
                        str(body.get("policy", "accept")),
                        prio if isinstance(prio, int) else 0,
                    )
                )
        elif kind == "rule":
            key = f"{family} {table} {body.get('chain')}"
            exprs = body.get("expr", [])
            if family not in ("ip", "inet") or not isinstance(exprs, list):
                return
            match = self._rule(family, table, exprs)
            match.rule_id = inert(f"{key} handle {body.get('handle')}")[:200]
            match.comment = inert(str(body.get("comment", "")))
            match.text = inert(f"{key} handle {body.get('handle')}: {self._render(exprs)}")[:400]
            self.chains.setdefault(key, []).append(match)

    def _rule(self, family: str, table: str, exprs: list) -> Match:
        match = Match()
        protocols: list[str] = []
        ports: tuple[Range, ...] | None = None
        for expr in exprs:
            if not isinstance(expr, dict) or len(expr) != 1:
                match.conditions.append("unreadable expression")
                continue
            ((key, value),) = expr.items()
            if key == "match" and isinstance(value, dict):
                try:
                    found = self._match(family, table, value, match)
                except (ValueError, TypeError, KeyError) as exc:
                    match.conditions.append(f"unreadable match ({exc})")
                    continue
                if found and found[0] == "proto":
                    protocols = found[1]
                elif found and found[0] == "dport":
                    protocols = protocols or [found[1]]
                    ports = found[2]
            elif key in ("accept", "drop", "reject", "return"):
                match.verdict = key
            elif key in ("jump", "goto") and isinstance(value, dict):
                match.verdict, match.target = key, f"{family} {table} {value.get('target')}"
            elif key == "counter" and isinstance(value, dict):
                packets = value.get("packets")
                match.hits = packets if isinstance(packets, int) else None
            elif key == "log":
                match.log = True
            elif key == "dnat" and isinstance(value, dict):
                match.verdict = "dnat"
                match.target = json.dumps(value, sort_keys=True)
            elif key in _NO_EFFECT:
                continue  # counts, marks or rewrites a packet: what it matches is unchanged
            else:  # limit, xt, queue, an opaque statement of nft text...: narrows, unknown how
                match.conditions.append(inert(str(value))[:60] if key == "statement" else key)
        if protocols or ports is not None:
            match.services = tuple(
                Service(p, ports if (ports is not None and p in ("tcp", "udp")) else PORT_ANY, p)
                for p in (protocols or ["any"])
            )
        return match

    def _match(self, family: str, table: str, m: dict, match: Match):
        op, left, right = m.get("op", "=="), m.get("left"), m.get("right")
        negated = op == "!="
        if op not in ("==", "!=", "in"):
            match.conditions.append(f"{op} comparison")
            return None
        if isinstance(left, dict) and "payload" in left:
            proto, fld = left["payload"].get("protocol"), left["payload"].get("field")
            if proto == "ip6":
                match.ipv6_only = True
                return None
            if proto == "ip" and fld in ("saddr", "daddr"):
                ranges = self._addresses(family, table, right)
                target = AddressSet(
                    merge(ranges), negated, (inert(self._render_value(right))[:80],)
                )
                if fld == "saddr":
                    match.sources = target
                else:
                    match.destinations = target
                return None
            if proto == "ip" and fld == "protocol":
                return ("proto", [protocol_name(str(v)) for v in _values(right)])
            if proto in ("tcp", "udp") and fld == "dport":
                ports = merge(self._ports(family, table, right))
                return ("dport", proto, complement_ports(ports) if negated else ports)
            match.conditions.append(f"{proto} {fld}")
            return None
        if isinstance(left, dict) and "meta" in left:
            meta = left["meta"].get("key")
            if meta == "l4proto":
                return ("proto", [protocol_name(str(v)) for v in _values(right)])
            if meta == "nfproto" and "ipv6" in _values(right):
                match.ipv6_only = not negated
                return None
            if meta in ("iifname", "oifname", "iif", "oif"):
                names = tuple(inert(str(v)) for v in _values(right))
                if negated or any("*" in n for n in names):
                    match.conditions.append(f"{meta} {op} {','.join(names)}")
                elif meta.startswith("i"):
                    match.src_zones = names
                else:
                    match.dst_zones = names
                return None
        if isinstance(left, dict) and "ct" in left:
            match.conditions.append(
                f"ct {left['ct'].get('key')} {op} {','.join(map(str, _values(right)))}"
            )
            return None
        match.conditions.append(inert(self._render_value(left))[:80] or "match")
        return None

    def _addresses(self, family: str, table: str, right) -> list[Range]:
        if isinstance(right, str) and right.startswith("@"):
            return [
                r
                for e in self.sets.get(f"{family} {table} {right[1:]}", [])
                for r in self._addresses(family, table, e)
            ]
        out: list[Range] = []
        for value in _values(right):
            if isinstance(value, dict) and "prefix" in value:
                out.append(ip_range(f"{value['prefix']['addr']}/{value['prefix']['len']}"))
            elif isinstance(value, dict) and "range" in value:
                out.append(ip_range(f"{value['range'][0]}-{value['range'][1]}"))
            elif isinstance(value, dict) and "elem" in value:
                out.extend(self._addresses(family, table, value["elem"].get("val")))
            else:
                out.append(ip_range(str(value)))
        return out

    def _ports(self, family: str, table: str, right) -> list[Range]:
        if isinstance(right, str) and right.startswith("@"):
            return [
                r
                for e in self.sets.get(f"{family} {table} {right[1:]}", [])
                for r in self._ports(family, table, e)
            ]
        out: list[Range] = []
        for value in _values(right):
            if isinstance(value, dict) and "range" in value:
                out.append((int(value["range"][0]), int(value["range"][1])))
            elif isinstance(value, int) and 0 <= value <= 65535:
                out.append((value, value))
            else:
                raise ValueError(f"port {value!r}")
        return out

    def _render(self, exprs: list) -> str:
        parts = []
        for expr in exprs:
            if isinstance(expr, dict) and len(expr) == 1:
                ((key, value),) = expr.items()
                if key == "match" and isinstance(value, dict):
                    op = "" if value.get("op") in ("==", "in") else f"{value.get('op')} "
                    left = self._render_value(value.get("left"))
                    parts.append(f"{left} {op}{self._render_value(value.get('right'))}")
                elif key in ("jump", "goto") and isinstance(value, dict):
                    parts.append(f"{key} {value.get('target')}")
                elif key == "counter" and isinstance(value, dict):
                    parts.append(
                        f"counter packets {value.get('packets')} bytes {value.get('bytes')}"
                    )
                elif value is None:
                    parts.append(key)
                else:
                    parts.append(f"{key} {self._render_value(value)}")
        return " ".join(parts)

    def _render_value(self, value) -> str:
        if isinstance(value, dict) and len(value) == 1:
            ((key, inner),) = value.items()
            if key == "payload" and isinstance(inner, dict):
                return f"{inner.get('protocol')} {inner.get('field')}"
            if key in ("meta", "ct") and isinstance(inner, dict):
                return f"{key} {inner.get('key')}" if key == "ct" else f"meta {inner.get('key')}"
            if key == "prefix" and isinstance(inner, dict):
                return f"{inner.get('addr')}/{inner.get('len')}"
            if key == "range" and isinstance(inner, list):
                return "-".join(self._render_value(v) for v in inner)
            if key == "set" and isinstance(inner, list):
                return "{ " + ", ".join(self._render_value(v) for v in inner) + " }"
            return json.dumps(value, sort_keys=True)[:80]
        if isinstance(value, list):
            return "{ " + ", ".join(self._render_value(v) for v in value) + " }"
        return str(value)


def _values(right) -> list:
    if isinstance(right, dict) and "set" in right:
        return list(right["set"]) if isinstance(right["set"], list) else [right["set"]]
    if isinstance(right, list):
        return right
    return [right]


def load(reader: Reader, text: str) -> Ruleset | None:
    """The ruleset in ``text`` (the first JSON object line), or None when there is none."""
    start = text.find('{"nftables"')
    if start < 0:
        return None
    if len(text) - start > MAX_JSON_CHARS:
        reader.warn("nft JSON too large; ignored")
        return None
    try:
        document, _ = json.JSONDecoder().raw_decode(text[start:])
    except (json.JSONDecodeError, RecursionError) as exc:
        reader.warn(f"nft JSON not readable ({type(exc).__name__})")
        return None
    return Ruleset(reader, document)
