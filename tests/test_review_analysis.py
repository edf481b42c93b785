"""The exact shadow/redundancy analysis against a brute-force evaluation of every packet class.

The random rule bases live in small universes (addresses 0..3 plus everything above, ports
0..2 plus the rest, five protocol classes, three zones) so that a handful of representative
packets stands for every equivalence class and the brute force is exhaustive.
"""

from __future__ import annotations

import functools
import itertools
import operator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.review import analysis
from agent.review.analysis import analyse, intersect, subtract
from agent.review.model import IPV4_ANY, PORT_ANY, AddressSet, Rule, RuleBase, Service, merge

ADDRESSES = (0, 1, 2, 3, 2**32 - 1)
PORTS = (0, 1, 2, 65535)
PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "47": 47}  # and "any"
PACKET_PROTOCOLS = (6, 17, 1, 47, 132, 99)
SRC_ZONES = ("a", "z")
DST_ZONES = ("a", "b", "z")


def _in(addresses: AddressSet, value: int) -> bool:
    inside = any(lo <= value <= hi for lo, hi in addresses.ranges)
    return inside != addresses.negated


def _service_matches(service: Service, proto: int, port: int) -> bool:
    in_ports = any(lo <= port <= hi for lo, hi in service.ports)
    if service.protocol == "any":
        return service.ports == PORT_ANY or (proto in (6, 17, 132) and in_ports)
    if PROTOCOLS[service.protocol] != proto:
        return False
    return in_ports if proto in (6, 17) else True


PACKETS = list(
    itertools.product(SRC_ZONES, DST_ZONES, ADDRESSES, ADDRESSES, PACKET_PROTOCOLS, PORTS)
)


# DIMENSION[d][v]: the packets whose coordinate d is v, as a bitset over PACKETS.
DIMENSION = [
    {v: sum(1 << n for n, p in enumerate(PACKETS) if p[d] == v) for v in values}
    for d, values in enumerate(
        (SRC_ZONES, DST_ZONES, ADDRESSES, ADDRESSES, PACKET_PROTOCOLS, PORTS)
    )
]


def _any_of(d: int, test) -> int:
    return functools.reduce(operator.or_, [m for v, m in DIMENSION[d].items() if test(v)], 0)


def _mask(rule: Rule) -> int:
    """The packets of PACKETS the rule matches (by the predicate above), as a bitset."""
    services = 0
    for proto, port in itertools.product(PACKET_PROTOCOLS, PORTS):
        if any(_service_matches(s, proto, port) for s in rule.services):
            services |= DIMENSION[4][proto] & DIMENSION[5][port]
    return (
        _any_of(0, lambda z: not rule.src_zones or z in rule.src_zones)
        & _any_of(1, lambda z: not rule.dst_zones or z in rule.dst_zones)
        & _any_of(2, lambda a: _in(rule.sources, a))
        & _any_of(3, lambda a: _in(rule.destinations, a))
        & services
    )


def _decided(rules: list[Rule], masks: list[int], state: set[int], skip: int) -> dict:
    """verdict -> the packets first-matched by a rule with that verdict (None: no rule)."""
    out: dict = {}
    left = (1 << len(PACKETS)) - 1
    for n, rule in enumerate(rules):
        if n == skip or not rule.enabled or n not in state:
            continue
        key = (rule.action, rule.log)
        out[key] = out.get(key, 0) | (masks[n] & left)
        left &= ~masks[n]
    out[None] = left
    return {k: v for k, v in out.items() if v}


def _brute(rules: list[Rule]) -> tuple[set[int], set[int]]:
    """(shadowed, redundant) rule numbers by evaluating every packet class in every
    combination of scheduled rules being active or not."""
    masks = [_mask(r) for r in rules]
    scheduled = [n for n, r in enumerate(rules) if r.schedule or r.conditions]
    states = []
    for k in range(len(scheduled) + 1):
        for on in itertools.combinations(scheduled, k):
            states.append({n for n in range(len(rules)) if n not in scheduled} | set(on))
    shadowed, redundant = set(), set()
    for n, rule in enumerate(rules):
        if not rule.enabled:
            continue
        earlier = [
            functools.reduce(operator.or_, [masks[k] for k in range(n) if k in s and
                                            rules[k].enabled], 0)
            for s in states if n in s
        ]  # fmt: skip
        if all(masks[n] & ~e == 0 for e in earlier):
            shadowed.add(n)
    # Redundancy is judged in the table without its shadowed rules (implicit ones included).
    kept = [r for n, r in enumerate(rules) if n not in shadowed]
    kept_masks = [m for n, m in enumerate(masks) if n not in shadowed]
    kept_states = [{kept.index(rules[n]) for n in s if n not in shadowed} for s in states]
    for k, rule in enumerate(kept):
        if not rule.enabled or rule.implicit:
            continue
        if all(
            _decided(kept, kept_masks, s, -1) == _decided(kept, kept_masks, s, k)
            for s in kept_states
        ):
            redundant.add(rules.index(rule))
    shadowed = {n for n in shadowed if not rules[n].implicit}
    return shadowed, redundant


def _ranges(draw, top: int) -> tuple[tuple[int, int], ...]:
    pairs = draw(
        st.lists(st.tuples(st.integers(0, top), st.integers(0, top)), min_size=1, max_size=2)
    )
    return merge([(min(a, b), max(a, b)) for a, b in pairs])


@st.composite
def addresses(draw) -> AddressSet:
    if draw(st.booleans()):
        return AddressSet()
    return AddressSet(_ranges(draw, 3), negated=draw(st.integers(0, 4)) == 0)


@st.composite
def services(draw) -> tuple[Service, ...]:
    out = []
    for _ in range(draw(st.integers(1, 2))):
        protocol = draw(st.sampled_from(("tcp", "udp", "icmp", "any", "47")))
        ports = PORT_ANY if draw(st.booleans()) else _ranges(draw, 2)
        if protocol in ("icmp", "47"):
            ports = PORT_ANY
        out.append(Service(protocol, ports))
    return tuple(out)


@st.composite
def rule_bases(draw) -> list[Rule]:
    rules = []
    for n in range(draw(st.integers(1, 6))):
        rules.append(
            Rule(
                id=str(n + 1),
                table="t",
                position=n,
                action=draw(st.sampled_from(("permit", "deny"))),
                sources=draw(addresses()),
                destinations=draw(addresses()),
                services=draw(services()),
                src_zones=draw(st.sampled_from(((), ("a",)))),
                dst_zones=draw(st.sampled_from(((), ("a",), ("b",), ("a", "b")))),
                log=draw(st.booleans()),
                enabled=draw(st.integers(0, 9)) > 0,
                schedule="weekdays" if draw(st.integers(0, 11)) == 0 else None,
                # a condition the model cannot express: like a schedule, it may not match
                conditions=("users alice",) if draw(st.integers(0, 11)) == 0 else (),
            )
        )
    if draw(st.booleans()):
        rules.append(Rule("implicit", "t", len(rules), "deny", implicit=True))
    return rules


@settings(
    max_examples=200, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(rule_bases())
def test_analysis_agrees_with_brute_force(rules: list[Rule]) -> None:
    result = analyse(RuleBase("test", rules=rules))
    shadowed, redundant = _brute(rules)
    number = {id(r): n for n, r in enumerate(rules)}
    assert {number[id(s.rule)] for s in result.shadowed} == shadowed
    assert {number[id(r.rule)] for r in result.redundant} == redundant
    for s in result.shadowed:  # the named rules together cover it, and each one is needed
        cover = [number[id(r)] for r in s.covered_by]
        assert all(c < number[id(s.rule)] and analysis.certain(rules[c]) for c in cover)
        mine = _mask(s.rule)
        union = functools.reduce(operator.or_, [_mask(rules[c]) for c in cover], 0)
        assert mine & ~union == 0
        for c in cover:
            others = [_mask(rules[k]) for k in cover if k != c]
            assert mine & ~functools.reduce(operator.or_, others, 0)


def _rule(n: int, dst: tuple, action: str = "permit", **kw) -> Rule:
    return Rule(str(n), "t", n, action, destinations=AddressSet(dst), log=True, **kw)


def test_shadowed_only_by_the_union_of_two_rules() -> None:
    rules = [
        _rule(1, ((10, 19),)),
        _rule(2, ((20, 29),)),
        _rule(3, ((12, 25),), "deny"),  # neither 1 nor 2 covers it alone
        _rule(4, ((0, 99),)),
    ]
    result = analyse(RuleBase("t", rules=rules))
    assert [(s.rule.id, [r.id for r in s.covered_by]) for s in result.shadowed] == [
        ("3", ["1", "2"])
    ]


def test_redundant_rule_names_the_rules_that_take_over() -> None:
    rules = [_rule(1, ((10, 19),)), _rule(2, ((0, 99),)), _rule(3, ((50, 160),), "deny")]
    result = analyse(RuleBase("t", rules=rules))
    assert [(r.rule.id, [t.id for t in r.taken_over_by]) for r in result.redundant] == [
        ("1", ["2"])
    ]
    assert result.shadowed == []


def test_a_rule_in_another_table_or_disabled_covers_nothing() -> None:
    other = Rule("9", "other", 0, "permit", log=True)
    off = Rule("0", "t", 0, "permit", log=True, enabled=False)
    result = analyse(RuleBase("t", rules=[other, off, _rule(1, IPV4_ANY)]))
    assert result.shadowed == [] and result.redundant == []


def test_interval_arithmetic() -> None:
    assert subtract(((0, 10),), ((2, 3), (5, 5), (9, 20))) == ((0, 1), (4, 4), (6, 8))
    assert intersect(((0, 5), (8, 9)), ((4, 8),)) == ((4, 5), (8, 8))
