"""Text that came from outside keyturn, made inert before a terminal (or a report) shows it.

A device banner, an imported CSV, a directory attribute or a DNS name may carry escape
sequences: a clear-screen that hides what ran before, an OSC 52 write that puts a command in
the operator's clipboard, concealed text, or bidi overrides that make a line read otherwise
than it is. ``inert`` drops whole escape sequences (not just the ESC byte, which would leave
``[2J`` behind) and every remaining control, format, surrogate and line-separator character;
with ``markup=True`` it also escapes rich markup for text printed through rich.

Also here: the standard streams as keyturn expects them (a closed stdin is "not a terminal").
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata

# ESC-introduced sequences, 7-bit and their 8-bit C1 forms: CSI (ESC [ or 0x9b) with
# parameters; OSC, DCS, SOS, PM, APC (ESC ] P X ^ _ or 0x9d 0x90 0x98 0x9e 0x9f) up to their
# terminator (BEL or ST) or, unterminated, to the end of the text; any other two- or
# three-byte ESC sequence (charset selection, keypad modes, RIS).
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|\Z)"
    r"|\x1b[ -/]*[0-~]?",
    re.DOTALL,
)
# Unicode categories never shown as text: controls, format (bidi overrides, zero-width
# joiners, soft hyphen), surrogates (undecodable bytes), private use, unassigned, and the
# line and paragraph separators that start a new line on some terminals.
_DROPPED = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
_KEPT_IN_BLOCKS = "\n\t"
_SPACING = "\t\n\r\v\f"


def inert(text: object, *, markup: bool = False, keep_newlines: bool = False) -> str:
    """``text`` as a string with no escape sequence and no control or format character.

    Tabs, newlines and carriage returns become one space (a username cannot start a fake
    output line); ``keep_newlines`` keeps newlines and tabs (report cells, notes).
    ``markup`` escapes rich markup (``[bold]``) for text printed through rich.
    """
    kept = _KEPT_IN_BLOCKS if keep_newlines else ""
    out = []
    for ch in _SEQUENCE.sub("", str(text)):
        if ch in kept:
            out.append(ch)
        elif ch in _SPACING:
            out.append(" ")
        elif unicodedata.category(ch) not in _DROPPED:
            out.append(ch)
    value = "".join(out)
    if markup:
        from rich.markup import escape

        value = escape(value)
    return value


def stdin_is_terminal() -> bool:
    """True only for a real terminal on stdin; a closed stdin (``<&-``, sys.stdin None) or
    a stream without a descriptor is not one."""
    stream = sys.stdin
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def stderr_is_terminal() -> bool:
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def guard_standard_descriptors() -> None:
    """Point closed descriptors 0-2 at /dev/null, as OpenSSH does at start.

    With stdin closed, the next file keyturn opens (the store, a lock) would become
    descriptor 0 and every child process (nmap, ssh helpers) would read it as its stdin;
    a closed stdout or stderr would make a stray write land in that file. Python sets
    sys.stdin to None for a closed descriptor 0: it becomes a reader of /dev/null, so every
    ``isatty()`` (click's, rich's, ours) answers False instead of raising.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdin is None:
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 (lives for the process)
    for name, fd in (("stdout", 1), ("stderr", 2)):
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "w", encoding="utf-8", closefd=False))  # noqa: SIM115
