"""The classification engine: a table of rules (rules.toml) scored against what was seen.

No if-chains: every rule is data. A rule matches when all its conditions hold; the best score
sets the device class, and the best matching rule that names a platform (and agrees on the
class) sets the netmiko platform. Confidence is that rule's score / 100.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from agent.config import DEVICE_CLASSES
from agent.core.errors import ConfigError
from agent.discovery.model import Host

RULES_FILE = Path(__file__).with_name("rules.toml")
_REGEX_KEYS = ("vendor", "sys_descr", "ssh_product", "banner", "http_title", "os", "hostname")
_KNOWN_KEYS = {"id", "class", "platform", "score", "sys_object_id"}
_KNOWN_KEYS |= {"ports_all", "ports_any", "ports_none"}
_KNOWN_KEYS |= set(_REGEX_KEYS)


@dataclass(frozen=True)
class Rule:
    id: str
    device_class: str
    platform: str | None
    score: int
    patterns: dict[str, re.Pattern[str]] = field(default_factory=dict)
    oid_prefixes: tuple[str, ...] = ()
    ports_all: frozenset[int] = frozenset()
    ports_any: frozenset[int] = frozenset()
    ports_none: frozenset[int] = frozenset()

    def matches(self, facts: dict[str, Any]) -> bool:
        for key, pattern in self.patterns.items():
            values = facts[key]
            if not any(v and pattern.search(v) for v in values):
                return False
        if self.oid_prefixes:
            oid = facts["sys_object_id"] or ""
            if not any(oid.startswith(prefix) for prefix in self.oid_prefixes):
                return False
        if self.ports_all and not self.ports_all <= facts["ports"]:
            return False
        if self.ports_none & facts["ports"]:
            return False
        return not (self.ports_any and not self.ports_any & facts["ports"])


@dataclass(frozen=True)
class Classification:
    device_class: str
    platform: str | None
    confidence: float | None
    rule: str | None


def load_rules(path: str | Path = RULES_FILE) -> list[Rule]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot load classification rules: {exc}") from exc
    rules = []
    for entry in data.get("rule", []):
        unknown = set(entry) - _KNOWN_KEYS
        if unknown or entry.get("class") not in DEVICE_CLASSES or "id" not in entry:
            raise ConfigError(
                f"{path}: bad rule {entry.get('id', '?')!r}"
                + (f" (unknown keys {sorted(unknown)})" if unknown else " (id or class)")
            )
        rules.append(
            Rule(
                id=entry["id"],
                device_class=entry["class"],
                platform=entry.get("platform"),
                score=int(entry.get("score", 50)),
                patterns={
                    k: re.compile(entry[k], re.IGNORECASE) for k in _REGEX_KEYS if k in entry
                },
                oid_prefixes=tuple(p.lstrip(".") for p in entry.get("sys_object_id", [])),
                ports_all=frozenset(entry.get("ports_all", [])),
                ports_any=frozenset(entry.get("ports_any", [])),
                ports_none=frozenset(entry.get("ports_none", [])),
            )
        )
    return rules


@lru_cache(maxsize=1)
def default_rules() -> list[Rule]:
    return load_rules()


def facts(host: Host) -> dict[str, Any]:
    """What the rules can look at, each a list of strings (or the port set / OID)."""
    snmp = host.snmp or {}
    os_info = host.os or {}
    ssh = [
        " ".join(v for v in (p.product, p.version) if v)
        for p in host.ports
        if p.state == "open" and (p.service == "ssh" or p.port == 22)
    ]
    return {
        "vendor": [host.vendor],
        "sys_descr": [snmp.get("sys_descr")],
        "sys_object_id": (snmp.get("sys_object_id") or "").lstrip("."),
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


def classify(host: Host, rules: list[Rule] | None = None) -> Classification:
    seen = facts(host)
    matched = sorted(
        (r for r in (rules if rules is not None else default_rules()) if r.matches(seen)),
        key=lambda r: r.score,
        reverse=True,
    )
    if not matched:
        return Classification("unknown", None, None, None)
    best = matched[0]
    platform_rule = next(
        (r for r in matched if r.platform and r.device_class == best.device_class), None
    )
    return Classification(
        best.device_class,
        platform_rule.platform if platform_rule else None,
        round((platform_rule or best).score / 100, 2),
        best.id,
    )


def apply(host: Host, rules: list[Rule] | None = None) -> None:
    result = classify(host, rules)
    host.device_class = result.device_class
    host.platform = result.platform
    host.platform_confidence = result.confidence
    host.rule = result.rule
