"""Cisco IOS / IOS XE ``show running-config`` -> RuleBase (the IOS family reader, with IOS's
defaults: vty lines accept telnet and ssh unless ``transport input`` says otherwise, and
``show ip access-lists`` omits zero counts)."""

from __future__ import annotations

from agent.review.model import RuleBase
from agent.review.platforms._cisco_acl import Dialect, apply_family_counters, parse_family

PLATFORM = "cisco_ios"
CONFIG_COMMANDS = ("show running-config",)
COUNTER_COMMANDS = ("show version", "show ip access-lists")
_DIALECT = Dialect(PLATFORM)


def parse(config: str, device: str = "") -> RuleBase:
    return parse_family(_DIALECT, config, device)


def apply_counters(base: RuleBase, output: str) -> None:
    apply_family_counters(_DIALECT, base, output)
