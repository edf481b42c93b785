"""Checks a parsed TOML table against a dataclass: the site config's schema (agent/config.py)
in the standard library, because importing pydantic and building its models cost ~0.15-0.2 s
of every keyturn command's start-up.

A table is a dataclass whose fields are str, int, float, bool, ``X | None``, ``Literal[...]``,
``list[X]`` or another table. A field's rules live in its metadata: ``gt`` / ``ge`` / ``le``
bounds, a ``pattern`` the whole string must match, a ``check`` function raising ValueError.
Types are strict (TOML is typed: "4" is not an integer); an environment variable's string is
parsed into the field's type first, with ``from_env``.
"""

import re
import types
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, Literal, get_args, get_origin


class Invalid(Exception):
    """The first problem found: the key's path, its kind (unknown, missing, bad) and why."""

    def __init__(self, keys: list[str], kind: str, reason: str = "") -> None:
        super().__init__(reason)
        self.keys, self.kind, self.reason = keys, kind, reason


def build(table: type, raw: Any, path: list[str]) -> Any:
    """An instance of the dataclass ``table`` from ``raw`` (the table found at ``path``), or
    Invalid for the first unknown key, missing key or bad value, in field order."""
    if not isinstance(raw, dict):
        raise Invalid(path, "bad", "expected a table")
    known = {item.name: item for item in fields(table)}
    for key in raw:
        if key not in known:
            raise Invalid([*path, key], "unknown")
    values = {}
    for name, spec in known.items():
        keys = [*path, name]
        if name not in raw:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise Invalid(keys, "missing")
            continue  # the dataclass fills in the default
        try:
            values[name] = _value(spec.type, raw[name], keys)
            _check_rules(values[name], spec.metadata)
        except ValueError as exc:
            raise Invalid(keys, "bad", str(exc)) from None
    return table(**values)


_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _value(kind: Any, value: Any, keys: list[str]) -> Any:
    """``value`` as a ``kind`` (a TOML integer is a valid float), else ValueError saying why;
    a nested table raises Invalid with its own path."""
    origin, args = get_origin(kind), get_args(kind)
    if origin is types.UnionType:  # ``X | None``: TOML has no null, so the value is an X
        return _value(unwrap(kind), value, keys)
    if origin is Literal:
        if value not in args:
            raise ValueError(f"expected one of {', '.join(map(repr, args))}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ValueError("expected a list")
        items = []
        for number, item in enumerate(value, start=1):
            try:
                items.append(_value(args[0], item, keys))
            except ValueError as exc:
                raise ValueError(f"item {number}: {exc}") from None
        return items
    if is_dataclass(kind):
        return build(kind, value, keys)
    if isinstance(value, bool) and kind is not bool:
        raise ValueError(f"expected {_KINDS[kind]}")  # bool is an int subclass, not a number
    if kind is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, kind):
        raise ValueError(f"expected {_KINDS[kind]}")
    return value


_BOUNDS = {
    "gt": ("greater than", lambda value, bound: value > bound),
    "ge": ("at least", lambda value, bound: value >= bound),
    "le": ("at most", lambda value, bound: value <= bound),
}


def _check_rules(value: Any, rules: Any) -> None:
    for rule, (phrase, holds) in _BOUNDS.items():
        if rule in rules and not holds(value, rules[rule]):  # NaN fails every bound
            raise ValueError(f"must be {phrase} {rules[rule]}")
    if "pattern" in rules and not re.fullmatch(rules["pattern"], value):
        raise ValueError(f"must match {rules['pattern']}")
    if "check" in rules:
        rules["check"](value)


def unwrap(kind: Any) -> Any:
    """``X`` for ``X | None``; any other type as it is."""
    if get_origin(kind) is types.UnionType:
        return next(arg for arg in get_args(kind) if arg is not type(None))
    return kind


_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def from_env(kind: Any, value: str) -> Any:
    """An environment string as the field's type, with the spellings pydantic's lax mode took
    (``4``, ``2.5``, ``false``, ``0``, ``yes``); what does not parse stays a string for the
    validator to report."""
    kind = unwrap(kind)
    if get_origin(kind) is list:
        return [item.strip() for item in value.split(",") if item.strip()]
    if kind is bool:
        word = value.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else value
    if kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            return value
    return value
