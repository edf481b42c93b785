"""Junos configuration, hierarchical (curly braces) or ``display set``, -> set statements.

A backup (``show configuration``, ``/config/juniper.conf``) is usually hierarchical; the set
form is what ``show configuration | display set`` prints. Both become one list of
``Statement(words, inactive)`` here, in configuration order, so the parser reads one form.
``inactive:`` blocks and ``deactivate`` lines mark the statements below them inactive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.review.platforms._common import Reader

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\{|\}|;|\[|\])|([^\s{};\[\]"]+)')
_MAX_DEPTH = 64


@dataclass(frozen=True)
class Statement:
    words: tuple[str, ...]
    inactive: bool = False

    @property
    def text(self) -> str:
        """The statement as ``display set`` prints it (how evidence cites it)."""
        shown = " ".join(_quote(w) for w in self.words)
        return f"set {shown}"


_NEEDS_QUOTES = re.compile(r'[\s;{}\[\]"#]')


def _quote(word: str) -> str:
    return f'"{word}"' if (not word or _NEEDS_QUOTES.search(word)) else word


def set_words(line: str) -> list[str]:
    """Words of one set line; a ``[ a b ]`` list becomes one list word (see ``_expand``)."""
    out: list[str] = []
    items: list[str] | None = None
    for quoted, punct, bare in _TOKEN.findall(line):
        word = punct or bare or quoted
        if punct == "[":
            items = []
        elif punct == "]" and items is not None:
            out.append(_LIST + _LIST.join(items))
            items = None
        elif items is not None:
            items.append(word)
        else:
            out.append(word)
    return out


_LIST = "\0"  # marks a list word; NUL never survives Reader.lines, so it cannot be forged


def _strip_comments(text: str) -> str:
    """Drop /* */ blocks and # comments outside quotes (## SECRET-DATA annotations included)."""
    out, i, quoted = [], 0, False
    while i < len(text):
        ch = text[i]
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
            continue
        elif not quoted and ch == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def statements(reader: Reader, lines: list[str]) -> list[Statement]:
    body = [line for line in lines if line.strip()]
    if any(line.lstrip().startswith(("set ", "deactivate ")) for line in body[:200]) and not any(
        line.rstrip().endswith("{") for line in body[:200]
    ):
        return _apply_groups(reader, _from_set(reader, body))
    return _apply_groups(reader, _from_hierarchy(reader, "\n".join(lines)))


def _apply_groups(reader: Reader, stmts: list[Statement]) -> list[Statement]:
    """``apply-groups G`` at the top inherits everything group G holds (what ``| display
    inheritance`` shows); the group's own statements are not configuration by themselves.
    An apply-groups deeper down, or a wildcard group path, is warned about, not expanded."""
    applied = [s.words[1] for s in stmts if len(s.words) == 2 and s.words[0] == "apply-groups"]
    deeper = {s.words[-1] for s in stmts if len(s.words) > 2 and "apply-groups" in s.words[:-1]}
    for group in sorted(deeper):
        reader.warn(f"apply-groups {group} below the top level is not expanded")
    out = [s for s in stmts if s.words[:1] not in (("groups",), ("apply-groups",))]
    for group in applied:
        for s in stmts:
            if s.words[:2] == ("groups", group) and len(s.words) > 2:
                if any(w.startswith("<") and w.endswith(">") for w in s.words):
                    reader.warn(f"group {group}: wildcard statement not expanded", s.text)
                    continue
                out.append(Statement(s.words[2:], s.inactive))
    return out


def _from_set(reader: Reader, lines: list[str]) -> list[Statement]:
    out: list[Statement] = []
    inactive: list[tuple[str, ...]] = []
    for line in lines:
        words = set_words(line.strip())
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "set" and len(words) > 1:
            out.extend(_expand(tuple(words[1:]), False))
        elif words[0] == "deactivate" and len(words) > 1:
            inactive.append(tuple(words[1:]))
        elif words[0] in ("delete", "activate"):
            reader.warn("edit command in a configuration listing ignored", line)
        elif not line.startswith(("{", "}", "version ")) and words[0] not in ("##",):
            reader.warn("not a Junos set statement", line)
    if not inactive:
        return out
    return [Statement(s.words, any(s.words[: len(p)] == p for p in inactive)) for s in out]


def _from_hierarchy(reader: Reader, text: str) -> list[Statement]:
    out: list[Statement] = []
    stack: list[tuple[tuple[str, ...], bool]] = [((), False)]
    words: list[str] = []
    in_list: list[str] | None = None
    for quoted, punct, bare in _TOKEN.findall(_strip_comments(text)):
        word = punct or bare or quoted
        path, inactive = stack[-1]
        if punct == "[":
            in_list = []
        elif punct == "]":
            items, in_list = in_list or [], None
            words.append(_LIST + _LIST.join(items))
        elif in_list is not None:
            in_list.append(word)
        elif punct == "{":
            flag, words = _annotations(words)
            if len(stack) >= _MAX_DEPTH:
                reader.warn("configuration nested too deep; rest ignored")
                return out
            stack.append((path + tuple(words), inactive or flag))
            words = []
        elif punct == ";":
            flag, words = _annotations(words)
            if words:
                out.extend(_expand(path + tuple(words), inactive or flag))
            words = []
        elif punct == "}":
            if words:
                reader.warn("statement without ';' ignored", " ".join(words))
                words = []
            if len(stack) == 1:
                reader.warn("unbalanced '}' ignored")
                continue
            stack.pop()
        else:
            words.append(word)
    if len(stack) > 1 or words:
        reader.warn("configuration ends inside a block (truncated?)")
    return out


def _annotations(words: list[str]) -> tuple[bool, list[str]]:
    inactive = False
    while words and words[0] in ("inactive:", "protect:", "replace:", "active:", "delete:"):
        inactive = inactive or words[0] == "inactive:"
        words = words[1:]
    return inactive, words


def _expand(words: tuple[str, ...], inactive: bool) -> list[Statement]:
    """``members [ a b ]`` is one set statement per member."""
    for i, word in enumerate(words):
        if word.startswith(_LIST):
            return [
                Statement((*words[:i], item, *words[i + 1 :]), inactive)
                for item in word[1:].split(_LIST)
                if item
            ]
    return [Statement(words, inactive)]
