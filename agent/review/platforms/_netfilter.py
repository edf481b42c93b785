"""What nftables and iptables rules share once read: a match, a verdict, and the flattening
of user chains (``jump``/``goto``) into the base chain that reaches them.

A matcher the model cannot express (connection state, rate limits, an ipset, an interface
wildcard, an ``xt`` compat match) becomes a condition: the rule then matches at most what the
model shows, and the analysis never lets it shadow another rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from agent.review.model import AddressSet, Rule, Service
from agent.review.platforms._common import Reader, implicit_rule, inert, subtract

MAX_JUMP_DEPTH = 8


@dataclass
class Match:
    sources: AddressSet = field(default_factory=AddressSet)
    destinations: AddressSet = field(default_factory=AddressSet)
    services: tuple[Service, ...] = (Service(),)
    src_zones: tuple[str, ...] = ()
    dst_zones: tuple[str, ...] = ()
    conditions: list[str] = field(default_factory=list)
    verdict: str = ""  # accept, drop, reject, jump, goto, return, '' (none)
    target: str = ""  # jump/goto chain
    hits: int | None = None
    log: bool = False
    comment: str = ""
    ipv6_only: bool = False
    text: str = ""  # the rule as cited
    rule_id: str = ""

    @property
    def matches_anything_specific(self) -> bool:
        return bool(
            not self.sources.is_any
            or not self.destinations.is_any
            or self.src_zones
            or self.dst_zones
            or self.conditions
            or self.services != (Service(),)
        )


_VERDICTS = {"accept": "permit", "drop": "deny", "reject": "deny"}


def _meet_addresses(a: AddressSet, b: AddressSet) -> AddressSet | None:
    if a.is_any:
        return b
    if b.is_any:
        return a
    if a.negated or b.negated:
        return None
    kept = subtract(a.ranges, subtract(a.ranges, b.ranges))
    return AddressSet(kept, False, a.names + b.names)


def _meet_zones(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...] | None:
    if not a or not b:
        return a or b
    both = tuple(z for z in a if z in b)
    return both or None


def narrow(outer: Match, inner: Match) -> Match | None:
    """``inner`` restricted to what ``outer`` (the jump rule) also matches, when the model
    can say it exactly; None when it cannot (the caller records a condition instead)."""
    sources = _meet_addresses(outer.sources, inner.sources)
    destinations = _meet_addresses(outer.destinations, inner.destinations)
    src_zones = _meet_zones(outer.src_zones, inner.src_zones)
    dst_zones = _meet_zones(outer.dst_zones, inner.dst_zones)
    if inner.services == (Service(),):
        services = outer.services
    elif outer.services == (Service(),):
        services = inner.services
    else:
        return None
    if None in (sources, destinations, src_zones, dst_zones):
        return None
    return replace(
        inner,
        sources=sources,
        destinations=destinations,
        services=services,
        src_zones=src_zones,
        dst_zones=dst_zones,
    )


class Flattener:
    """Emit a base chain's rules in evaluation order, user chains inlined where jumped to."""

    def __init__(self, reader: Reader, chains: dict[str, list[Match]]) -> None:
        self.reader, self.chains = reader, chains
        self.rules: list[Rule] = []

    def base_chain(self, table: str, chain: str, policy: str, why: str) -> None:
        position = self._emit(table, chain, [], [], "", 0, 0)
        action = "permit" if policy == "accept" else "deny"
        self.rules.append(implicit_rule(table, position, action, why))

    def _emit(self, table, chain, via, via_lines, via_id, depth, position, outers=()) -> int:
        """Emit ``chain``'s rules; ``outers`` are the jump rules that led here, each with the
        condition to record when its match cannot be folded into an inner rule exactly."""
        extra: list[str] = []
        for match in self.chains.get(chain, []):
            if match.ipv6_only:
                continue
            if match.verdict in ("jump", "goto"):
                if depth >= MAX_JUMP_DEPTH or match.target not in self.chains:
                    self.reader.warn(
                        f"{match.verdict} to {match.target!r} not followed", match.text
                    )
                    continue
                outer = match if match.matches_anything_specific else None
                cond = [f"reached by {match.verdict} ({match.text})"] if outer else []
                position = self._emit(
                    table,
                    match.target,
                    via + extra,
                    [*via_lines, match.text],
                    f"{via_id} via {match.rule_id}",
                    depth + 1,
                    position,
                    [*outers, (outer, cond)] if outer else outers,
                )
                if match.verdict == "goto":
                    if not cond:
                        return position  # never comes back
                    extra.append(f"unless goto matched ({match.text})")
                continue
            if match.verdict == "return":
                if not match.matches_anything_specific:
                    return position
                extra.append(f"after a return ({match.text})")
                continue
            if match.verdict not in _VERDICTS:
                continue  # counter, log, mark...: decides nothing
            conditions = list(via + extra + match.conditions)
            for outer, cond in outers:
                folded = narrow(outer, match)
                if folded is None:
                    conditions.extend(cond)
                else:
                    match = folded
                    conditions.extend(c for c in outer.conditions if c not in conditions)
            self.rules.append(
                Rule(
                    id=f"{match.rule_id}{via_id}",
                    table=table,
                    position=position,
                    action=_VERDICTS[match.verdict],
                    sources=match.sources,
                    destinations=match.destinations,
                    services=match.services,
                    src_zones=match.src_zones,
                    dst_zones=match.dst_zones,
                    log=match.log,
                    hits=match.hits if not via_id else None,
                    comment=match.comment,
                    lines=(*via_lines, match.text),
                    conditions=tuple(inert(c)[:200] for c in conditions),
                )
            )
            position += 1
        return position
