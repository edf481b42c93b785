"""Cisco NX-OS ``show running-config`` -> RuleBase (the IOS family reader: sequence-numbered
ACLs, ``object-group ip address|port``, ssh on and telnet off unless ``feature telnet``;
``show ip access-lists`` counts entries only under ``statistics per-entry``)."""

from __future__ import annotations

from agent.review.model import RuleBase
from agent.review.platforms._cisco_acl import Dialect, apply_family_counters, parse_family

PLATFORM = "cisco_nxos"
CONFIG_COMMANDS = ("show running-config",)
COUNTER_COMMANDS = ("show version", "show ip access-lists")
_DIALECT = Dialect(
    PLATFORM, vty_default=(), default_management=("ssh",), missing_count_is_zero=False
)


def parse(config: str, device: str = "") -> RuleBase:
    return parse_family(_DIALECT, config, device)


def apply_counters(base: RuleBase, output: str) -> None:
    apply_family_counters(_DIALECT, base, output)
