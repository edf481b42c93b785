"""FortiOS configuration text -> a tree of ``config`` sections and ``edit`` entries.

A FortiOS backup (and ``show``) lists only what differs from the defaults, nests ``config``
blocks inside ``edit`` entries, quotes values with backslash escapes, and may carry
multi-line quoted values (certificates, private keys) that must never be cited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.review.platforms._common import Reader, redact_line

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
_MAX_MULTILINE = 4000  # lines of one quoted value (a certificate chain is far below)


def tokens(text: str) -> list[str]:
    """Words of a FortiOS line; quoted words unescaped."""
    out = []
    for quoted, bare in _TOKEN.findall(text):
        if bare:
            out.append(bare)
        else:
            out.append(re.sub(r"\\(.)", r"\1", quoted) if "\\" in quoted else quoted)
    return out


@dataclass
class Entry:
    """An ``edit`` entry, or the body of a ``config`` block without edits."""

    name: str
    settings: dict[str, list[str]] = field(default_factory=dict)
    setting_lines: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)  # redacted, as written
    subs: dict[str, Section] = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        values = self.settings.get(key)
        return values[0] if values else default

    def cite(self, *keys: str) -> tuple[str, ...]:
        """The edit line and the lines setting ``keys`` (all lines when none given)."""
        if not keys:
            return tuple(self.lines)
        head = self.lines[:1]
        return tuple(head + [self.setting_lines[k] for k in keys if k in self.setting_lines])


@dataclass
class Section:
    path: str
    entries: dict[str, Entry] = field(default_factory=dict)  # ordered as written
    body: Entry = field(default_factory=lambda: Entry(""))


def _quote_open(text: str) -> bool:
    if '"' not in text:
        return False
    return len(re.findall(r'(?<!\\)"', text.replace("\\\\", ""))) % 2 == 1


def build(reader: Reader, lines: list[str]) -> Section:
    """The root section; unknown or unbalanced syntax is warned about, never raised."""
    root = Section("")
    stack: list[tuple[Section, Entry | None]] = [(root, None)]
    pending = ""
    pending_count = 0
    for number, line in enumerate(lines, 1):
        if pending:
            pending += "\n" + line
            pending_count += 1
            if _quote_open(pending) and pending_count < _MAX_MULTILINE:
                continue
            line, pending = pending, ""
            if _quote_open(line):
                reader.warn(f"line {number}: unterminated quoted value ignored")
                continue
        elif _quote_open(line):
            pending, pending_count = line, 1
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        words = tokens(stripped)
        if not words:
            continue
        section, entry = stack[-1]
        cited = (
            redact_line(stripped)
            if "\n" not in stripped
            else f"{words[0]} {words[1]} <multi-line value>"
        )
        verb = words[0]
        if verb == "config" and len(words) > 1:
            path = " ".join(words[1:])
            holder = entry if entry is not None else section.body
            sub = holder.subs.setdefault(path, Section(path))
            stack.append((sub, None))
            holder.lines.append(cited)
        elif verb == "edit" and len(words) > 1:
            new = section.entries.setdefault(words[1], Entry(words[1]))
            new.lines.append(cited)
            stack[-1] = (section, new)
        elif verb == "next" and entry is not None:
            entry.lines.append(cited)
            stack[-1] = (section, None)
        elif verb == "end":
            if len(stack) == 1:
                reader.warn(f"line {number}: 'end' without 'config'")
                continue
            stack.pop()
            parent_section, parent_entry = stack[-1]
            (parent_entry or parent_section.body).lines.append(cited)
        elif verb == "move" and len(words) == 4 and words[2] in ("before", "after"):
            _move(reader, section, words[1], words[2], words[3], number)
        elif verb in ("set", "unset", "append", "select", "unselect") and len(words) > 1:
            target = entry if entry is not None else section.body
            key = words[1]
            if verb == "unset":
                target.settings.pop(key, None)
            elif verb in ("append", "select"):
                target.settings.setdefault(key, []).extend(words[2:])
            elif verb == "unselect":
                drop = set(words[2:])
                target.settings[key] = [w for w in target.settings.get(key, []) if w not in drop]
            else:
                target.settings[key] = words[2:]
            target.setting_lines[key] = cited
            target.lines.append(cited)
        else:
            reader.warn(f"line {number}: not FortiOS configuration syntax", stripped)
    if pending:
        reader.warn("unterminated quoted value at the end of the configuration ignored")
    if len(stack) > 1:
        reader.warn(f"configuration ends inside 'config {stack[-1][0].path}' (truncated?)")
    return root


def _move(
    reader: Reader, section: Section, name: str, where: str, anchor: str, number: int
) -> None:
    """`move 5 before 1`: a CLI script may reorder entries, and order is evaluation order."""
    entries = section.entries
    if name not in entries or anchor not in entries or name == anchor:
        reader.warn(f"line {number}: move of an unknown entry ignored")
        return
    moved = entries.pop(name)
    order = list(entries.items())
    at = [key for key, _ in order].index(anchor) + (1 if where == "after" else 0)
    order.insert(at, (name, moved))
    section.entries = dict(order)


def scopes(root: Section) -> list[tuple[str, dict[str, Section]]]:
    """(vdom, sections) per VDOM: a multi-VDOM backup nests them under ``config vdom``; a
    single-VDOM one has them at the root (vdom '')."""
    vdoms = root.body.subs.get("vdom")
    if vdoms is None or not any(e.subs for e in vdoms.entries.values()):
        return [("", root.body.subs)]
    glob = root.body.subs.get("global")
    shared = glob.body.subs if glob else {}
    out = []
    for name, entry in vdoms.entries.items():
        if entry.subs:
            out.append((name, {**shared, **entry.subs}))
    return out
