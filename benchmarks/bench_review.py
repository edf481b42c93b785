"""Benchmark: keyturn's exact shadow analysis vs a pairwise-comparison baseline on a synthetic
5,000-rule policy with object groups.

The policy is FortiOS-like: zone pairs, host/subnet objects, address groups of scattered
hosts, service objects and groups, 85 % permit, an implicit deny; planted among the rules are
rules shadowed by a single earlier rule and rules shadowed only by the union of two earlier
ones (two /25 halves before a /24). The baseline is what open-source auditors do, made as
strong as it can be: every pair of rules, on the *expanded* sets (not object names), "is
this rule contained in that earlier one". The goal is keyturn under 5 s, exact.

    .venv/bin/python benchmarks/bench_review.py [--rules 5000] [--seed 17] [--runs 3]

Pure CPU, no network.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.review.analysis import ZoneIndex, analyse, rule_boxes, subtract  # noqa: E402
from agent.review.findings import review  # noqa: E402
from agent.review.model import AddressSet, Rule, RuleBase, Service, cidr_range  # noqa: E402

GOAL_SECONDS = 5.0
ZONE_PAIRS = [("lan", "wan"), ("lan", "dmz"), ("dmz", "wan"), ("vpn", "lan"), ("wan", "dmz")]


def synthetic_policy(count: int, seed: int) -> tuple[RuleBase, set[str], set[str]]:
    """(rule base, ids planted as shadowed by one rule, ids planted as union-shadowed)."""
    rng = random.Random(seed)

    def ip() -> str:
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    hosts = [AddressSet((cidr_range(ip()),), names=(f"h{n}",)) for n in range(400)]
    subnets = [AddressSet((cidr_range(f"10.{n // 4}.{(n % 4) * 64}.0/26"),), names=(f"n{n}",))
               for n in range(100)]  # fmt: skip
    groups = []
    for n in range(150):
        members = rng.sample(hosts, rng.randint(2, 20))
        ranges = tuple(sorted({r for m in members for r in m.ranges}))
        groups.append(AddressSet(ranges, names=(f"g{n}",)))
    ports = [22, 25, 53, 80, 123, 161, 389, 443, 445, 636, 993, 1433, 3306, 3389, 5432, 8080]
    services = [(Service("tcp", ((p, p),), f"tcp-{p}"),) for p in ports]
    services += [(Service("udp", ((p, p),), f"udp-{p}"),) for p in (53, 123, 161, 500)]
    services += [(Service("tcp", ((p, p + 99),), f"tcp-{p}-range"),) for p in (1000, 5000, 9000)]
    service_groups = [tuple(s for g in rng.sample(services, rng.randint(2, 6)) for s in g)
                      for _ in range(20)]  # fmt: skip
    anywhere = AddressSet()

    def address() -> AddressSet:
        roll = rng.random()
        if roll < 0.08:
            return anywhere
        return rng.choice(groups if roll < 0.45 else subnets if roll < 0.7 else hosts)

    rules: list[Rule] = []
    single, union = set(), set()

    def add(**kw) -> Rule:
        rule = Rule(str(len(rules) + 1), "policy", len(rules), log=True, **kw)
        rules.append(rule)
        return rule

    while len(rules) < count:
        src_zone, dst_zone = rng.choice(ZONE_PAIRS)
        zones = {"src_zones": (src_zone,), "dst_zones": (dst_zone,)}
        roll = rng.random()
        if roll < 0.02 and len(rules) + 3 <= count:  # a /24 after its two /25 halves
            net = rng.randrange(256)
            dst, svc = address(), rng.choice(services)
            for half in ("0/25", "128/25"):
                add(action="permit", sources=AddressSet((cidr_range(f"10.99.{net}.{half}"),)),
                    destinations=dst, services=svc, **zones)  # fmt: skip
            shadowed = add(action="deny", sources=AddressSet((cidr_range(f"10.99.{net}.0/24"),)),
                           destinations=dst, services=svc, **zones)  # fmt: skip
            union.add(shadowed.id)
        elif roll < 0.04 and rules:  # a copy of an earlier rule, narrowed to one of its hosts
            earlier = rng.choice(rules)
            if earlier.sources.negated or not earlier.sources.ranges:
                continue
            lo, _ = earlier.sources.ranges[0]
            copy = add(action="deny", sources=AddressSet(((lo, lo),)),
                       destinations=earlier.destinations, services=earlier.services,
                       src_zones=earlier.src_zones, dst_zones=earlier.dst_zones)  # fmt: skip
            single.add(copy.id)
        else:
            svc = rng.choice(service_groups) if rng.random() < 0.3 else rng.choice(services)
            add(action="permit" if rng.random() < 0.85 else "deny", sources=address(),
                destinations=address(), services=svc, **zones)  # fmt: skip
    rules.append(Rule("0", "policy", len(rules), "deny", implicit=True))
    return RuleBase("fortinet", "bench", rules=rules), single, union


def _subset(a, b) -> bool:
    return not subtract(a, b)


def pairwise_shadowed(base: RuleBase) -> set[str]:
    """The baseline: a rule is shadowed when ONE earlier rule contains it, dimension by
    dimension, on expanded sets."""
    rules = [r for r in base.rules if r.enabled]
    zones = ZoneIndex(rules)
    boxes = [rule_boxes(r, zones) for r in rules]
    found = set()
    for i, rule in enumerate(rules):
        if rule.implicit:
            continue
        for j in range(i):
            if all(
                any(all(_subset(a[d], b[d]) for d in range(6)) for b in boxes[j]) for a in boxes[i]
            ):
                found.add(rule.id)
                break
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    base, single, union = synthetic_policy(args.rules, args.seed)
    groups = sum(
        1 for r in base.rules if len(r.sources.ranges) > 1 or len(r.destinations.ranges) > 1
    )
    print(f"policy: {len(base.rules) - 1} rules ({groups} with multi-range object groups), "
          f"planted: {len(single)} shadowed by one rule, {len(union)} only by a union")  # fmt: skip

    times, walls = [], []  # CPU time: the machine may be shared; wall time shown too
    for _ in range(args.runs):
        t0, w0 = time.process_time(), time.perf_counter()
        result = analyse(base)
        times.append(time.process_time() - t0)
        walls.append(time.perf_counter() - w0)
    exact = {s.rule.id for s in result.shadowed}
    t0 = time.process_time()
    findings = review(base).findings
    review_seconds = time.process_time() - t0
    print(f"keyturn exact analysis: {statistics.median(times):.2f} s CPU median of "
          f"{args.runs} (wall {statistics.median(walls):.2f} s), {len(exact)} shadowed; "
          f"full review {review_seconds:.2f} s CPU; now pairwise", flush=True)  # fmt: skip
    t0 = time.process_time()
    pairwise = pairwise_shadowed(base)
    pairwise_seconds = time.process_time() - t0

    assert union <= exact and single <= exact, "a planted shadowed rule was not found"
    assert pairwise <= exact, "pairwise found a rule the exact analysis did not"
    median = statistics.median(times)
    print(
        f"keyturn exact analysis: {median:.2f} s CPU median of {args.runs} "
        f"({len(exact)} shadowed, {len(result.redundant)} redundant); "
        f"full review with every finding: {review_seconds:.2f} s CPU ({len(findings)} findings)"
    )
    print(
        f"pairwise baseline: {pairwise_seconds:.2f} s CPU, {len(pairwise)} shadowed; "
        f"misses {len(exact - pairwise)} union-shadowed rule(s) "
        f"({len(union - pairwise)} of the {len(union)} planted)"
    )
    print(f"goal < {GOAL_SECONDS:.0f} s: {'met' if median < GOAL_SECONDS else 'MISSED'}")
    return 0 if median < GOAL_SECONDS else 1  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
