"""RouterOS ``/export`` text -> commands: (menu path, verb, arguments, cited line).

The export writes a menu line (``/ip firewall filter``) and then ``add``/``set`` lines with
``key=value`` arguments, wraps long lines with a trailing backslash, and quotes values with
backslash escapes. ``/export terse`` puts the menu on every line. Both are read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.review.platforms._common import Reader, redact_line

_ARG = re.compile(r'([\w.-]+)=("(?:[^"\\]|\\.)*"|\S*)|(\[[^\]]*\])|(\S+)')
_MAX_JOINED = 200  # continuation lines of one command


@dataclass
class Command:
    menu: str  # '/ip firewall filter'
    verb: str  # 'add', 'set', ...
    args: dict[str, str] = field(default_factory=dict)
    target: str = ""  # 'set telnet ...' / 'set [ find default=yes ] ...'
    line: str = ""  # redacted, continuation joined

    def get(self, key: str, default: str = "") -> str:
        return self.args.get(key, default)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _logical_lines(reader: Reader, lines: list[str]) -> list[str]:
    out: list[str] = []
    pending: list[str] = []
    for line in lines:
        if pending:
            pending.append(line.strip())
            if len(pending) > _MAX_JOINED:
                reader.warn("a command wrapped over too many lines ignored", pending[0])
                pending = []
                continue
        else:
            pending = [line.rstrip()]
        if pending[-1].endswith("\\"):
            pending[-1] = pending[-1][:-1]
            continue
        # The export breaks a line at a space it keeps before the backslash.
        out.append("".join(pending))
        pending = []
    if pending:
        out.append("".join(pending))
    return out


def commands(reader: Reader, lines: list[str]) -> list[Command]:
    out: list[Command] = []
    menu = ""
    for line in _logical_lines(reader, lines):
        text = line.strip()
        if not text or text.startswith("#") or text.startswith(":"):
            continue
        if text.startswith("/"):
            words = text.split()
            path = []
            for i, word in enumerate(words):
                if (
                    "=" in word
                    or word in ("add", "set", "remove", "print", "export")
                    or (i and not re.fullmatch(r"[\w-]+", word))
                ):
                    break
                path.append(word.lstrip("/"))
            menu = "/" + " ".join(path)
            text = " ".join(words[len(path) :])
            if not text:
                continue
        verb, _, rest = text.partition(" ")
        # The menu is cited as is: '/ppp secret' is a path, not a secret followed by a value.
        command = Command(menu, verb, line=f"{menu} {redact_line(text)}".strip())
        for key, value, bracket, bare in _ARG.findall(rest):
            if key:
                command.args[key] = _unquote(value)
            elif bracket:
                found = re.search(r"(?:name|default-name)=(\S+?)\s*\]?$", bracket.strip("[] "))
                command.target = found.group(1) if found else bracket
                if "default=yes" in bracket:
                    command.target = "default"
            elif bare and not command.target:
                command.target = bare
        if verb not in ("add", "set"):
            reader.warn(f"{menu} {verb}: command ignored", text)
            continue
        out.append(command)
    return out
