"""The classification engine: a table of rules (rules.toml) scored against what was seen.

No if-chains: every rule is data. A rule matches when all its conditions hold. The best
matching rule that names a class sets the device class; the best matching rule that names a
platform and agrees on the class (or names no class) sets the platform. Confidence is that
rule's score / 100, and the result lists the evidence (condition names) the deciding rules
used, so a report can say why a device is a switch.

Evidence comes in two kinds (docs/discovery.md): what the device says about itself (sysDescr,
sysObjectID and its IANA enterprise number, ENTITY-MIB model, SSH banner, HTTP title) and
what every standard agent answers whatever its vendor (sysServices layer bits, BRIDGE-MIB,
ipForwarding, HOST-RESOURCES-MIB), plus the MAC vendor and the open ports.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from agent.core.errors import ConfigError
from agent.discovery.model import Host
from inventory.classes import DEVICE_CLASSES

RULES_FILE = Path(__file__).with_name("rules.toml")
ENTERPRISES_FILE = Path(__file__).with_name("enterprises.tsv")
ENTERPRISE_PREFIX = "1.3.6.1.4.1."
_REGEX_KEYS = (
    "vendor", "sys_descr", "ssh_product", "banner", "http_title", "os", "hostname",
    "oid_vendor", "ent_model",
)  # fmt: skip
_BOOL_KEYS = ("snmp", "bridge", "ip_forwarding", "host_resources", "printer_mib")
_INT_SET_KEYS = ("enterprise", "layers_all", "layers_none", "ports_all", "ports_any", "ports_none")
_KNOWN_KEYS = {"id", "class", "platform", "score", "sys_object_id", "ent_class"}
_KNOWN_KEYS |= {*_REGEX_KEYS, *_BOOL_KEYS, *_INT_SET_KEYS}
# ENTITY-MIB PhysicalClass (RFC 6933): the number an agent answers -> the name rules use.
ENT_CLASSES = {
    1: "other", 2: "unknown", 3: "chassis", 4: "backplane", 5: "container", 6: "powerSupply",
    7: "fan", 8: "sensor", 9: "module", 10: "port", 11: "stack", 12: "cpu", 13: "energyObject",
    14: "battery", 15: "storageDrive",
}  # fmt: skip


@dataclass(frozen=True)
class Rule:
    id: str
    device_class: str | None
    platform: str | None
    score: int
    patterns: dict[str, re.Pattern[str]] = field(default_factory=dict)
    oid_prefixes: tuple[str, ...] = ()
    int_sets: dict[str, frozenset[int]] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)
    ent_classes: frozenset[str] = frozenset()

    @cached_property
    def needs(self) -> frozenset[str]:
        """Facts that must be known for this rule to match: a cheap test before the regexes."""
        names = {*self.patterns, *self.flags}
        names |= {"layers" if k.startswith("layers") else k for k in self.int_sets}
        names.discard("ports_none")  # holds when nothing is open too
        if self.oid_prefixes:
            names.add("sys_object_id")
        if self.ent_classes:
            names.add("ent_class")
        return frozenset("ports" if n.startswith("ports") else n for n in names)

    @property
    def evidence(self) -> tuple[str, ...]:
        """The condition names this rule decides on, in a stable order."""
        names = [*self.patterns, *self.int_sets, *self.flags]
        if self.oid_prefixes:
            names.append("sys_object_id")
        if self.ent_classes:
            names.append("ent_class")
        return tuple(sorted(names))

    def matches(self, facts: dict[str, Any]) -> bool:
        # Plain loops, cheap tests first: this runs for every rule on every host of a /16.
        for key, wanted in self.flags.items():
            if facts[key] is not wanted:  # an unknown fact (None) never satisfies a condition
                return False
        for key, values in self.int_sets.items():
            if not _set_holds(key, values, facts):
                return False
        if self.oid_prefixes and not facts["sys_object_id"].startswith(self.oid_prefixes):
            return False
        if self.ent_classes and facts["ent_class"] not in self.ent_classes:
            return False
        for key, pattern in self.patterns.items():
            for value in facts[key]:
                if value and pattern.search(value):
                    break
            else:
                return False
        return True


def _set_holds(key: str, values: frozenset[int], facts: dict[str, Any]) -> bool:
    if key == "enterprise":
        return facts["enterprise"] in values
    if key in ("layers_all", "layers_none"):
        layers = facts["layers"]
        if layers is None:
            return False
        return values <= layers if key == "layers_all" else not values & layers
    ports = facts["ports"]
    if key == "ports_all":
        return values <= ports
    if key == "ports_any":
        return bool(values & ports)
    return not values & ports  # ports_none


@dataclass(frozen=True)
class Classification:
    device_class: str
    platform: str | None
    confidence: float | None
    rule: str | None
    evidence: tuple[str, ...] = ()
    oid_vendor: str | None = None  # the IANA organisation of the sysObjectID's enterprise
    model: str | None = None  # ENTITY-MIB entPhysicalModelName, where the agent has one


def load_rules(
    path: str | Path = RULES_FILE, classes: Iterable[str] = DEVICE_CLASSES
) -> list[Rule]:
    """Parse and check a rule table; ``classes`` is the vocabulary a rule may name."""
    known_classes = set(classes)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot load classification rules: {exc}") from exc
    return [_rule(entry, path, known_classes) for entry in data.get("rule", [])]


def _rule(entry: dict[str, Any], path: str | Path, classes: set[str]) -> Rule:
    unknown = set(entry) - _KNOWN_KEYS
    device_class = entry.get("class")
    bad_outcome = device_class is None and not entry.get("platform")
    if (
        unknown
        or "id" not in entry
        or bad_outcome
        or (device_class and device_class not in classes)
    ):
        raise ConfigError(
            f"{path}: bad rule {entry.get('id', '?')!r}"
            + (f" (unknown keys {sorted(unknown)})" if unknown else " (id, class or platform)")
        )
    try:
        return Rule(
            id=entry["id"],
            device_class=device_class,
            platform=entry.get("platform"),
            score=int(entry.get("score", 50)),
            patterns={k: re.compile(entry[k], re.IGNORECASE) for k in _REGEX_KEYS if k in entry},
            oid_prefixes=tuple(p.lstrip(".") for p in entry.get("sys_object_id", [])),
            int_sets={k: frozenset(int(v) for v in entry[k]) for k in _INT_SET_KEYS if k in entry},
            flags={k: bool(entry[k]) for k in _BOOL_KEYS if k in entry},
            ent_classes=frozenset(entry.get("ent_class", [])),
        )
    except (re.error, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: bad rule {entry['id']!r}: {exc}") from exc


@lru_cache(maxsize=1)
def default_rules() -> list[Rule]:
    return load_rules()


@lru_cache(maxsize=1)
def enterprises() -> dict[int, str]:
    """IANA enterprise number -> organisation, from the shipped registry subset."""
    table = {}
    for line in ENTERPRISES_FILE.read_text(encoding="utf-8").splitlines():
        number, _, name = line.partition("\t")
        if number.isdigit() and name:
            table[int(number)] = name.strip()
    return table


def enterprise_of(oid: str | None) -> int | None:
    """The private enterprise number of a sysObjectID (1.3.6.1.4.1.N...), or None."""
    oid = (oid or "").strip().lstrip(".")
    if not oid.startswith(ENTERPRISE_PREFIX):
        return None
    number = oid[len(ENTERPRISE_PREFIX) :].split(".", 1)[0]
    return int(number) if number.isdigit() else None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _layers(value: Any) -> set[int] | None:
    """sysServices (RFC 3418): bit L-1 set means the device offers layer L's services."""
    number = _int(value)
    if number is None or not 0 <= number <= 127:
        return None
    return {layer for layer in range(1, 8) if number & (1 << (layer - 1))}


def _answered(snmp: dict[str, Any], key: str) -> bool | None:
    """Whether the agent answered an object: None when it was not asked (older records)."""
    if key not in snmp:
        return None
    return snmp[key] not in (None, "")


def facts(host: Host) -> dict[str, Any]:
    """What the rules can look at, each a list of strings (or a number, set or flag)."""
    snmp = host.snmp or {}
    os_info = host.os or {}
    oid = (snmp.get("sys_object_id") or "").strip().lstrip(".")
    enterprise = enterprise_of(oid)
    ssh = [
        " ".join(v for v in (p.product, p.version) if v)
        for p in host.ports
        if p.state == "open" and (p.service == "ssh" or p.port == 22)
    ]
    bridge_ports = _int(snmp.get("bridge_ports"))
    forwarding = _int(snmp.get("ip_forwarding"))
    host_resources = _answered(snmp, "hr_system_uptime")
    return {
        "vendor": [host.vendor],
        "sys_descr": [snmp.get("sys_descr")],
        "sys_object_id": oid,
        "enterprise": enterprise,
        "oid_vendor": [enterprises().get(enterprise)] if enterprise is not None else [],
        "layers": _layers(snmp.get("sys_services")),
        "snmp": bool(snmp) or None,
        "bridge": None if "bridge_ports" not in snmp else bool(bridge_ports and bridge_ports > 0),
        # ipForwarding: 1 forwarding (a router), 2 not forwarding (a host)
        "ip_forwarding": None if forwarding not in (1, 2) else forwarding == 1,
        "host_resources": host_resources,
        "printer_mib": _answered(snmp, "printer_mib"),
        "ent_class": ENT_CLASSES.get(_int(snmp.get("ent_class")) or 0),
        "ent_model": [snmp.get("ent_model")],
        "ssh_product": ssh,
        "banner": [
            " ".join(v for v in (p.product, p.version) if v)
            for p in host.ports
            if p.state == "open"
        ],
        "http_title": [host.http_title],
        "os": [" | ".join(str(os_info.get(k) or "") for k in ("name", "type", "vendor", "family"))]
        if os_info
        else [],
        "hostname": [*host.hostnames, snmp.get("sys_name")],
        "ports": host.open_ports("tcp"),
    }


def _known(value: Any) -> bool:
    if isinstance(value, list):
        return any(value)
    return value is not None and (value is False or bool(value) or value == 0)


@lru_cache(maxsize=1)
def _default_by_score() -> tuple[Rule, ...]:
    return tuple(sorted(default_rules(), key=lambda r: r.score, reverse=True))


def _decide(
    ordered: tuple[Rule, ...] | list[Rule], seen: dict[str, Any]
) -> tuple[Rule | None, Rule | None]:
    """The best class rule and the best platform rule that agrees with it, walking the rules
    from the highest score down and stopping once both are settled (equal scores keep the
    table's order)."""
    known = {key for key, value in seen.items() if _known(value)}
    best: Rule | None = None
    earlier_platforms: list[Rule] = []  # matched before the class was known
    for rule in ordered:
        if best is not None and not rule.platform:
            continue  # the class is settled: only a platform can still be decided
        if not (rule.needs <= known and rule.matches(seen)):
            continue
        if best is None and rule.device_class:
            best = rule
            for candidate in (*earlier_platforms, rule):
                if candidate.platform and candidate.device_class in (None, rule.device_class):
                    return best, candidate
        elif best is None:
            earlier_platforms.append(rule)
        elif rule.device_class in (None, best.device_class):
            return best, rule
    if best is None:  # no class: a platform rule may still name what runs there
        return None, next((r for r in earlier_platforms if r.device_class is None), None)
    return best, None


def _inputs(host: Host) -> tuple:
    """Everything :func:`facts` reads of a host, hashable: equal inputs, equal result."""
    snmp = host.snmp or {}
    os_info = host.os or {}
    return (
        host.vendor, host.http_title, tuple(host.hostnames),
        tuple(sorted((k, repr(v)) for k, v in snmp.items())) if host.snmp else None,
        tuple(sorted((k, repr(v)) for k, v in os_info.items())) if host.os else None,
        tuple((p.port, p.proto, p.state, p.service, p.product, p.version) for p in host.ports),
    )  # fmt: skip


# A /16 is thousands of hosts that look alike (a vendor MAC, no port, no SNMP): the default
# table classifies each distinct host description once. Bounded: a hostile site with a
# unique banner per host only fills it.
_CLASSIFIED: dict[tuple, Classification] = {}
_CLASSIFIED_MAX = 8192


def classify(host: Host, rules: list[Rule] | None = None) -> Classification:
    if rules is not None:
        return _classify(facts(host), sorted(rules, key=lambda r: r.score, reverse=True))
    key = _inputs(host)
    result = _CLASSIFIED.get(key)
    if result is None:
        result = _classify(facts(host), _default_by_score())
        if len(_CLASSIFIED) < _CLASSIFIED_MAX:
            _CLASSIFIED[key] = result
    return result


def _classify(seen: dict[str, Any], ordered: tuple[Rule, ...] | list[Rule]) -> Classification:
    best, platform_rule = _decide(ordered, seen)
    oid_vendor = seen["oid_vendor"][0] if seen["oid_vendor"] else None
    model = (seen["ent_model"][0] or "").strip() or None
    device_class = best.device_class if best else "unknown"
    deciding = [r for r in (best, platform_rule) if r is not None]
    if not deciding:
        return Classification("unknown", None, None, None, (), oid_vendor, model)
    evidence = tuple(sorted({name for r in deciding for name in r.evidence}))
    return Classification(
        device_class,
        platform_rule.platform if platform_rule else None,
        round((platform_rule or best or deciding[0]).score / 100, 2),
        (best or deciding[0]).id,
        evidence,
        oid_vendor,
        model,
    )


def apply(host: Host, rules: list[Rule] | None = None) -> None:
    result = classify(host, rules)
    host.device_class = result.device_class
    host.platform = result.platform
    host.platform_confidence = result.confidence
    host.rule = result.rule
    host.evidence = list(result.evidence)
    host.oid_vendor = result.oid_vendor
    host.model = result.model
