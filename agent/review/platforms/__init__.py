"""One parser module per platform, found by name: ``parser_for('fortinet').parse(text)``.

Every module here (except the ``_`` helpers) exposes the same small contract, checked by
tests/test_review_parsers.py on every registered parser:

    PLATFORM: str                      keyturn platform id
    CONFIG_COMMANDS: tuple[str, ...]   read-only commands; their outputs joined by '\\n' are
                                       the text parse() reads, the same as a backup/export
    COUNTER_COMMANDS: tuple[str, ...]  read-only commands printing hit counters (may be empty)
    parse(config: str, device: str = "") -> RuleBase
    apply_counters(base: RuleBase, output: str) -> None

A parser never raises on what a device or file holds: what it does not understand becomes a
line in ``RuleBase.warnings``.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from agent.core.errors import UsageError

_CONTRACT = ("PLATFORM", "CONFIG_COMMANDS", "COUNTER_COMMANDS", "parse", "apply_counters")


def _discover() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        missing = [name for name in _CONTRACT if not hasattr(module, name)]
        if missing:
            raise ImportError(f"review parser {info.name} lacks {', '.join(missing)}")
        found[module.PLATFORM] = module
    return dict(sorted(found.items()))


PLATFORMS: dict[str, ModuleType] = _discover()


def parser_for(platform: str) -> ModuleType:
    """The parser module of a keyturn platform id; UsageError naming the known ones if none."""
    try:
        return PLATFORMS[platform]
    except (KeyError, TypeError):
        shown = ascii(str(platform)[:40])
        raise UsageError(
            f"no firewall review parser for platform {shown}; known: {', '.join(PLATFORMS)}"
        ) from None
