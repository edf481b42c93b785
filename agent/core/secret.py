"""A password that refuses to be printed, logged, pickled or serialised by accident."""

from __future__ import annotations

import threading
from typing import Any, NoReturn

REDACTED = "********"

# Every secret value wrapped in this process, so output scrubbers can find it verbatim
# (a device echoing a password back into an error text must not leak it to a log).
_known_values: set[str] = set()
_known_lock = threading.Lock()


def scrub(text: str) -> str:
    """Replace every known secret value in ``text`` with ********."""
    with _known_lock:
        values = sorted(_known_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


class Secret:
    """Holds a secret value; every accidental rendering yields ``********``.

    The value is only reachable through :meth:`reveal`, so a grep for ``reveal(``
    finds every place a secret leaves this wrapper.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        object.__setattr__(self, "_value", value)
        if len(value) >= 4:
            with _known_lock:
                _known_values.add(value)

    def reveal(self) -> str:
        return self._value

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __str__(self) -> str:
        return REDACTED

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return _constant_time_equal(self._value, other._value)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __json__(self) -> str:
        return REDACTED


def _constant_time_equal(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def json_default(value: object) -> object:
    """``json.dumps(..., default=json_default)``: Secrets become ``********``."""
    if isinstance(value, Secret):
        return REDACTED
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
