"""Identifiers are data, never syntax: the grammar every name must pass before it reaches a
device command, the keyring or a path.

A username or host comes from an inherited CSV, a targets file, the directory or a device;
any of them may hold a newline that a CLI reads as a second command, a `;` a shell runs,
or a `|` that makes two keyring entries collide. Each check refuses with a one-line reason
(UsageError, exit 2) instead of trying to escape: a device CLI has no quoting keyturn could
trust across platforms.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from agent.core.errors import UsageError

# Device and Unix account names: the intersection of what IOS, NX-OS, EOS, Junos, FortiOS,
# RouterOS and Linux accept, so one grammar serves every SSH platform. A driver may narrow
# it (Linux: lower case, 32 characters) but never widen it.
DEVICE_USERNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@-]{0,63}")

# Directory (AD) bind accounts as keyring names: a UPN (audit@acme.local), a down-level name
# (ACME\\audit) or a plain sAMAccountName. They reach LDAP as a bind name, never a CLI, but
# the keyring entry "host|user" must stay unambiguous and the terminal inert.
DIRECTORY_ACCOUNT = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9.-]{0,14}\\)?[A-Za-z0-9_][A-Za-z0-9._@$-]{0,103}"
)

# RFC 1123 host names (labels of letters, digits and inner hyphens).
_HOSTNAME_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


# Names of the control characters an operator meets in pasted or exported passwords.
_CONTROL_NAMES = {
    0x00: "NUL",
    0x09: "tab",
    0x0A: "line feed",
    0x0D: "carriage return",
    0x1B: "ESC",
    0x7F: "DEL",
}


def _describe(value: str) -> str:
    """A printable, inert rendering of a refused value for the error line."""
    return ascii(value[:80])


def control_characters(value: str) -> list[str]:
    """The control or format characters in ``value`` (Cc, Cf, Cs, Co, Cn), as names."""
    return [
        f"U+{ord(ch):04X}"
        for ch in value
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn")
    ]


def control_character_names(value: str) -> list[str]:
    """Readable names of the control characters in ``value`` (tab, Ctrl-Z, U+200B...), each
    once, in order of appearance; for an error line that must not print the value."""
    names: list[str] = []
    for ch in value:
        if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        code = ord(ch)
        if code in _CONTROL_NAMES:
            name = _CONTROL_NAMES[code]
        elif code < 0x20:
            name = f"Ctrl-{chr(code + 64)}"
        else:
            name = f"U+{code:04X}"
        if name not in names:
            names.append(name)
    return names


def check_username(
    value: str, what: str = "username", grammar: re.Pattern[str] = DEVICE_USERNAME
) -> str:
    """Return ``value`` when it is a safe account name for a device CLI, else raise."""
    if not isinstance(value, str) or not value:
        raise UsageError(f"{what} is empty")
    if control_characters(value):
        raise UsageError(f"{what} {_describe(value)} holds control characters")
    if not grammar.fullmatch(value):
        raise UsageError(
            f"{what} {_describe(value)} is not a plain account name "
            "(letters, digits, '.', '_', '@', '-'; at most 64 characters)"
        )
    return value


def check_directory_account(value: str, what: str = "directory account") -> str:
    """Return ``value`` when it is a UPN, DOMAIN\\name or plain account name, else raise."""
    if not isinstance(value, str) or not value:
        raise UsageError(f"{what} is empty")
    if control_characters(value):
        raise UsageError(f"{what} {_describe(value)} holds control characters")
    if not DIRECTORY_ACCOUNT.fullmatch(value):
        raise UsageError(
            f"{what} {_describe(value)} is not an account name "
            "(name@domain, DOMAIN\\name or a plain name)"
        )
    return value


def check_host(value: str, what: str = "host") -> str:
    """Return ``value`` when it is an IP address or an RFC 1123 host name, else raise."""
    if not isinstance(value, str) or not value:
        raise UsageError(f"{what} is empty")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    labels = name.split(".")
    if len(name) > 253 or not all(_HOSTNAME_LABEL.fullmatch(label) for label in labels):
        raise UsageError(f"{what} {_describe(value)} is neither an IP address nor a host name")
    return value.lower()
