"""Exact first-match analysis of a rule base: shadowed and redundant rules.

A rule's match space is a union of *boxes*: products of six interval sets (source zone,
destination zone, source address, destination address, IP protocol, destination port), after
negation and object expansion. The analysis subtracts boxes, so it reasons on the packets
themselves, never on object names, and finds a rule covered only by the union of several
earlier ones (which pairwise tools miss).

Definitions (docs/review.md states them for the auditor):

* Only enabled rules match. Rules are compared only within their ``table``, in
  ``position`` order (first match wins).
* A rule is **shadowed** iff every packet it matches is matched by an earlier rule of the
  same table that surely matches it: a rule with a schedule may be inactive and a rule with
  ``conditions`` (connection state, users, ...) matches only part of its boxes, so neither
  ever counts as covering. ``covered_by`` names a minimal set of earlier rules whose union covers
  it.
* A rule is **redundant** iff it is not shadowed and, in the table without its shadowed
  rules (which decide nothing, and are the first to go), removing it changes no packet's
  verdict, the verdict being the (action, log) of the first matching rule, or "no rule" when
  none matches. A shadowed rule never takes over: with rules 2 and 3 covering rule 4, rule 4
  is the dead one, not 2 and 3. Exactly: every packet the rule decides (its match space
  minus the earlier rules') is decided by the next matching later rule with the same action
  and logging. Uncertain later rules (scheduled, or with conditions) may match or not: one
  with a different verdict that meets those packets makes the rule not redundant; one with
  the same verdict is never relied upon. Each redundant rule is safe to remove on its own,
  not all of them together.
* Implicit rules (a vendor's final deny, default chain policies) cover and take over like any
  rule but are never reported themselves.

Speed: for each table, per dimension, the rules sorted by the bounds of their bounding box
give prefix/suffix bitsets (Python ints), so the earlier rules whose boxes can meet a rule are
found with a few big-integer ANDs instead of a pairwise scan; only those are subtracted.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass

from agent.review.model import PORT_ANY, Range, Rule, RuleBase, merge

IntervalSet = tuple[Range, ...]
Box = tuple[IntervalSet, ...]  # (src zone, dst zone, src, dst, protocol, dst port)

PROTOCOL_NUMBERS = {
    "icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
    "icmp6": 58, "ipv6-icmp": 58, "icmpv6": 58, "ospf": 89, "pim": 103, "vrrp": 112,
    "sctp": 132,
}  # fmt: skip
PORT_PROTOCOLS = frozenset({6, 17, 132})  # protocols whose rules can name ports
_PROTO_MAX = 255
PROTO_ANY: IntervalSet = ((0, _PROTO_MAX + 1_000_000),)  # numbers past 255: unknown names
ALWAYS = frozenset({"", "always"})
ANY_ZONE = frozenset({"any", "all"})  # FortiOS srcintf "any", Junos global policies


@dataclass(frozen=True)
class Shadowed:
    rule: Rule
    covered_by: tuple[Rule, ...]  # earlier rules whose union covers it (a minimal set)


@dataclass(frozen=True)
class Redundant:
    rule: Rule
    taken_over_by: tuple[Rule, ...]  # later rules that decide its packets the same way


@dataclass
class Analysis:
    shadowed: list[Shadowed]
    redundant: list[Redundant]


# ---- interval sets -------------------------------------------------------------------


def intersect(a: IntervalSet, b: IntervalSet) -> IntervalSet:
    out: list[Range] = []
    i = j = 0
    while i < len(a) and j < len(b):
        alo, ahi = a[i]
        blo, bhi = b[j]
        lo = alo if alo > blo else blo
        hi = ahi if ahi < bhi else bhi
        if lo <= hi:
            out.append((lo, hi))
        if ahi < bhi:
            i += 1
        else:
            j += 1
    return tuple(out)


def overlaps(a: IntervalSet, b: IntervalSet) -> bool:
    """``intersect(a, b)`` is not empty (stops at the first common point)."""
    i = j = 0
    la, lb = len(a), len(b)
    while i < la and j < lb:
        if a[i][1] < b[j][0]:
            i += 1
        elif b[j][1] < a[i][0]:
            j += 1
        else:
            return True
    return False


def subtract(a: IntervalSet, b: IntervalSet) -> IntervalSet:
    out: list[Range] = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] < lo:
            j += 1
        k, start = j, lo
        while k < len(b) and b[k][0] <= hi:
            if b[k][0] > start:
                out.append((start, b[k][0] - 1))
            start = max(start, b[k][1] + 1)
            k += 1
        if start <= hi:
            out.append((start, hi))
    return tuple(out)


def box_minus(a: Box, b: Box) -> list[Box] | None:
    """``a`` minus ``b`` as disjoint boxes; None when they do not meet (``a`` unchanged)."""
    for x, y in zip(a, b, strict=True):  # bounding boxes first: most pairs stop here
        if x[0][0] > y[-1][1] or y[0][0] > x[-1][1]:
            return None
    common = []
    for x, y in zip(a, b, strict=True):
        both = intersect(x, y)
        if not both:
            return None
        common.append(both)
    pieces = []
    for d in range(len(a)):
        rest = subtract(a[d], b[d])
        if rest:
            pieces.append((*common[:d], rest, *a[d + 1 :]))
    return pieces


def meet(region: list[Box], boxes: list[Box]) -> list[Box]:
    """The part of ``region`` inside the union of ``boxes`` (``region``'s boxes are
    disjoint, so subtracting what lies outside keeps them so)."""
    outside = region
    outside, _ = minus(outside, boxes)
    inside, _ = minus(region, outside)
    return inside


def minus(region: list[Box], boxes: list[Box]) -> tuple[list[Box], bool]:
    """``region`` minus the union of ``boxes``, and whether anything was taken."""
    touched = False
    for b in boxes:
        out: list[Box] = []
        cut = False
        for a in region:
            pieces = box_minus(a, b)
            if pieces is None:
                out.append(a)
            else:
                cut = True
                out.extend(pieces)
        region = out
        touched = touched or cut
        if not region:
            break
    return region, touched


# ---- rules as boxes ---------------------------------------------------------------------


def protocol_number(protocol: str) -> int | None:
    """The IP protocol number; None for 'any'. An unknown name gets a number past 255 of its
    own (it then only ever equals itself)."""
    text = protocol.strip().lower()
    if text in ("any", "ip", "all", ""):
        return None
    if text.isdigit() and int(text) <= _PROTO_MAX:
        return int(text)
    if text in PROTOCOL_NUMBERS:
        return PROTOCOL_NUMBERS[text]
    return _PROTO_MAX + 1 + (int.from_bytes(text.encode()[:6], "big") % 999_999)


def service_boxes(rule: Rule) -> list[tuple[IntervalSet, IntervalSet]]:
    """(protocols, ports) pairs covering the rule's services. A port-less protocol matches
    every port; 'any' with ports means TCP, UDP and SCTP to those ports."""
    by_proto: dict[int | None, list[Range]] = defaultdict(list)
    for service in rule.services:
        number = protocol_number(service.protocol)
        ports = tuple(service.ports) or PORT_ANY
        if number is None and tuple(ports) != PORT_ANY:
            for p in sorted(PORT_PROTOCOLS):
                by_proto[p].extend(ports)
        elif number is not None and number not in PORT_PROTOCOLS:
            by_proto[number].extend(PORT_ANY)
        else:
            by_proto[number].extend(ports)
    if None in by_proto:
        return [(PROTO_ANY, PORT_ANY)]
    grouped: dict[IntervalSet, list[Range]] = defaultdict(list)
    for number, ports in by_proto.items():
        grouped[merge(ports)].append((number, number))  # type: ignore[arg-type]
    return [(merge(protos), ports) for ports, protos in sorted(grouped.items())]


class ZoneIndex:
    """Zone names of one table as integers; the last one stands for every zone not named."""

    def __init__(self, rules: list[Rule]) -> None:
        names = sorted({z for r in rules for z in (*r.src_zones, *r.dst_zones)})
        self.number = {name: n for n, name in enumerate(names)}
        self.other = len(names)

    def interval(self, zones: tuple[str, ...]) -> IntervalSet:
        if not zones or any(z.lower() in ANY_ZONE for z in zones):
            return ((0, self.other),)
        return merge([(self.number[z], self.number[z]) for z in zones])


def rule_boxes(rule: Rule, zones: ZoneIndex) -> list[Box]:
    src, dst = rule.sources.effective(), rule.destinations.effective()
    szones, dzones = zones.interval(rule.src_zones), zones.interval(rule.dst_zones)
    if not (src and dst):
        return []  # matches nothing (e.g. a negated 'any')
    return [(szones, dzones, src, dst, p, ports) for p, ports in service_boxes(rule)]


# ---- the candidate index ----------------------------------------------------------------


_BUCKET_BITS = 8  # address buckets are /24s
_MAX_BUCKETS = 64  # a set spanning more /24s is "wide": a candidate for every query


def _buckets(ranges: IntervalSet) -> set[int] | None:
    """The /24 buckets an address set touches; None when there are too many."""
    out: set[int] = set()
    for lo, hi in ranges:
        first, last = lo >> _BUCKET_BITS, hi >> _BUCKET_BITS
        if last - first + len(out) >= _MAX_BUCKETS:
            return None
        out.update(range(first, last + 1))
    return out


class _Index:
    """Which rules can meet a query box, as a bitset over rule numbers: per dimension the
    rules whose bounding interval meets the query's, and for the two address dimensions the
    rules touching the same /24s (object groups of scattered hosts have bounding intervals
    spanning most of the address space, so bounds alone would keep nearly every rule)."""

    def __init__(self, boxes: list[list[Box]]) -> None:
        self.buckets: list[tuple[dict[int, int], int]] = []
        for d in (2, 3):
            table: dict[int, int] = defaultdict(int)
            wide = 0
            for n, bs in enumerate(boxes):
                touched = _buckets(merge([r for b in bs for r in b[d]]))
                if touched is None:
                    wide |= 1 << n
                    continue
                for bucket in touched:
                    table[bucket] |= 1 << n
            self.buckets.append((dict(table), wide))
        self.dims = []
        for d in range(6):
            lows = [min(b[d][0][0] for b in bs) if bs else 1 for bs in boxes]
            highs = [max(b[d][-1][1] for b in bs) if bs else 0 for bs in boxes]
            by_lo = sorted(range(len(boxes)), key=lows.__getitem__)
            by_hi = sorted(range(len(boxes)), key=highs.__getitem__)
            prefix, acc = [0], 0  # prefix[k]: the k rules with the lowest lower bounds
            for n in by_lo:
                acc |= 1 << n
                prefix.append(acc)
            suffix, acc = [0], 0  # suffix[k] (reversed): the k rules with the highest uppers
            for n in reversed(by_hi):
                acc |= 1 << n
                suffix.append(acc)
            suffix.reverse()
            self.dims.append(([lows[n] for n in by_lo], prefix, [highs[n] for n in by_hi], suffix))

    def meeting(self, region: list[Box]) -> int:
        mask = -1
        for d, (table, wide) in zip((2, 3), self.buckets, strict=True):
            touched = _buckets(merge([r for b in region for r in b[d]]))
            if touched is not None:
                found = wide
                for bucket in touched:
                    found |= table.get(bucket, 0)
                mask &= found
        for d, (lo_sorted, prefix, hi_sorted, suffix) in enumerate(self.dims):
            qlo = min(b[d][0][0] for b in region)
            qhi = max(b[d][-1][1] for b in region)
            mask &= prefix[bisect_right(lo_sorted, qhi)] & suffix[bisect_left(hi_sorted, qlo)]
            if not mask:
                break
        return mask


def _bits(mask: int):
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


# ---- the analysis -----------------------------------------------------------------------


def analyse(base: RuleBase) -> Analysis:
    """Shadowed and redundant rules of every table of ``base``."""
    tables: dict[str, list[Rule]] = defaultdict(list)
    for rule in base.rules:
        if rule.enabled:
            tables[rule.table].append(rule)
    result = Analysis([], [])
    for table in sorted(tables):
        _analyse_table(sorted(tables[table], key=lambda r: r.position), result)
    return result


def certain(rule: Rule) -> bool:
    """The rule surely matches every packet of its boxes: no schedule that may be off, and
    no match condition the model cannot express (``Rule.conditions``, set by parsers)."""
    if rule.conditions:
        return False
    return (rule.schedule or "").strip().lower() in ALWAYS


def _verdict(rule: Rule) -> tuple[str, bool]:
    return (rule.action, rule.log)


def _analyse_table(rules: list[Rule], result: Analysis) -> None:
    zones = ZoneIndex(rules)
    boxes = [rule_boxes(r, zones) for r in rules]
    index = _Index(boxes)
    always = sum(1 << n for n, r in enumerate(rules) if certain(r))
    shadowed, live = 0, []
    for i, rule in enumerate(rules):
        if not boxes[i]:
            continue
        earlier = list(_bits(index.meeting(boxes[i]) & ((1 << i) - 1) & always))
        covered, used = walk(boxes[i], earlier, boxes, lambda j: "covered")
        if not covered:
            live.append((i, earlier))
            continue
        shadowed |= 1 << i
        if not rule.implicit:
            cover = _minimal_cover(boxes[i], used, boxes)
            result.shadowed.append(Shadowed(rule, tuple(rules[j] for j in cover)))
    for i, earlier in live:
        if rules[i].implicit:
            continue
        later = list(_bits(index.meeting(boxes[i]) & ~((1 << (i + 1)) - 1) & ~shadowed))
        earlier_set = set(earlier)
        decide = _taking_over(rules, earlier_set, _verdict(rules[i]))
        same, used = walk(boxes[i], earlier + later, boxes, decide)
        if same:
            takers = [j for j in dict.fromkeys(used) if j not in earlier_set]
            result.redundant.append(Redundant(rules[i], tuple(rules[j] for j in takers)))


def _taking_over(rules: list[Rule], earlier: set[int], verdict: tuple[str, bool]):
    """What each rule does to the packets of a rule being removed: earlier rules decided
    them already; a later rule must give the same verdict, surely (an uncertain one with the
    same verdict may not match, so the walk goes past it)."""

    def decide(j: int) -> str:
        if j in earlier:
            return "covered"
        if _verdict(rules[j]) != verdict:
            return "fail"
        return "covered" if certain(rules[j]) else "skip"

    return decide


_CHEAP_FIRST = (0, 1, 4, 5, 2, 3)  # zones and services before the long address sets


def _meets(a: Box, b: Box) -> bool:
    for d in _CHEAP_FIRST:
        x, y = a[d], b[d]
        if x[0][0] > y[-1][1] or y[0][0] > x[-1][1] or not overlaps(x, y):
            return False
    return True


def walk(
    region: list[Box], order: list[int], boxes: list[list[Box]], decide
) -> tuple[bool, list[int]]:
    """First-match walk of ``region`` through the rules ``order`` (rule numbers), depth
    first: each piece goes to the first rule it meets; ``decide(rule)`` says what that rule
    does to the piece: 'covered' (the part inside is settled, the rest walks on), 'skip'
    (the rule may not match: the whole piece walks on) or 'fail' (stop: a packet gets
    another verdict). A piece no rule meets also fails. Returns (no failure, rules used).

    Depth first with an early stop, never the whole region at once: a rule under hundreds
    of partly overlapping rules has a witness packet a few splits away, while subtracting
    all of them would fragment its region into thousands of boxes."""
    stack = [(box, 0) for box in reversed(region)]
    used: list[int] = []
    while stack:
        piece, k = stack.pop()
        while k < len(order) and not any(_meets(piece, b) for b in boxes[order[k]]):
            k += 1
        if k == len(order):
            return False, used
        j = order[k]
        outcome = decide(j)
        if outcome == "fail":
            return False, used
        if outcome == "skip":
            stack.append((piece, k + 1))
            continue
        used.append(j)
        outside, _ = minus([piece], boxes[j])
        stack.extend((box, k + 1) for box in reversed(outside))
    return True, used


def _contains(big: Box, small: Box) -> bool:
    return all(not subtract(x, y) for x, y in zip(small, big, strict=True))


def covers(region: list[Box], order: list[int], boxes: list[list[Box]]) -> tuple[bool, list[int]]:
    """Whether the union of the rules ``order`` covers ``region`` (order does not matter
    for a union), and the rules used. Depth first: a piece one rule contains is settled at
    once (a catch-all settles everything), else it is split by the first rule it meets;
    a piece no rule meets is the witness that stops the search."""
    stack = [(box, 0) for box in reversed(region)]
    used: list[int] = []
    while stack:
        piece, k = stack.pop()
        first = None
        for n in range(k, len(order)):
            rule_boxes_ = boxes[order[n]]
            if not any(_meets(piece, b) for b in rule_boxes_):
                continue
            if any(_contains(b, piece) for b in rule_boxes_):
                used.append(order[n])
                break
            if first is None:
                first = n
        else:
            if first is None:
                return False, used
            j = order[first]
            used.append(j)
            outside, _ = minus([piece], boxes[j])
            stack.extend((box, first + 1) for box in reversed(outside))
    return True, used


def _minimal_cover(target: list[Box], used: list[int], boxes: list[list[Box]]) -> list[int]:
    """Drop every rule the others still cover ``target`` without (latest first)."""
    keep = sorted(set(used))
    for j in reversed(list(keep)):
        trial = [k for k in keep if k != j]
        if covers(target, trial, boxes)[0]:
            keep = trial
    return keep
