"""A plan as RFC 2849 LDIF change records (apply.ldif, undo.ldif) for people who review in LDIF.

Each record deletes the ``before`` values and adds the ``after`` values in one modify, as
``keyturn ad apply`` does; descriptor records carry the SD-flags control (DACL only). Values
that are not SAFE-STRINGs (binary, leading space/colon/'<', non-ASCII) are base64 (``::``).
The objectGUID each record targets is given in a comment above it.
"""

from __future__ import annotations

import base64

from agent.directory import sd
from agent.directory.actions import KINDS, decode_values
from agent.directory.connection import sd_flags_control

_UNSAFE_START = (" ", ":", "<")


def render(plan: dict, *, undo: bool = False) -> str:
    lines = ["version: 1", ""]
    actions = list(reversed(plan["actions"])) if undo else plan["actions"]
    for action in actions:
        kind = KINDS[action["action"]]
        if not kind.reversible and undo:
            continue
        lines.append(
            f"# {action['id']} {'undo ' if undo else ''}{action['action']} "
            f"({action['rule']}) objectGUID {action['target_guid']}"
        )
        lines.append(f"# risk: {action['risk']}")
        if action["action"].startswith("reset_"):
            lines += ["# not expressible as LDIF: done through the rotation lifecycle", ""]
            continue
        before, after = (
            (action["after"], action["before"]) if undo else (action["before"], action["after"])
        )
        lines += _record(action["target_dn"], before, after)
    return "\n".join(lines) + "\n"


def _record(dn: str, before: dict, after: dict) -> list[str]:
    out = [_line("dn", dn.encode("utf-8"))]
    if "nTSecurityDescriptor" in after:
        oid, critical, value = sd_flags_control(sd.DACL_SECURITY_INFORMATION)
        out.append(
            f"control: {oid} {'true' if critical else 'false'}:: {base64.b64encode(value).decode()}"
        )
    out.append("changetype: modify")
    for attribute in sorted({*before, *after}):
        old = decode_values(attribute, before.get(attribute, []))
        new = decode_values(attribute, after.get(attribute, []))
        if attribute == "nTSecurityDescriptor":
            out += [f"replace: {attribute}", *(_line(attribute, v) for v in new), "-"]
            continue
        gone = [v for v in old if v not in new]
        added = [v for v in new if v not in old]
        if gone:
            out += [f"delete: {attribute}", *(_line(attribute, v) for v in gone), "-"]
        if added:
            out += [f"add: {attribute}", *(_line(attribute, v) for v in added), "-"]
    return [*out, ""]


def _line(attribute: str, value: bytes) -> str:
    try:
        text = value.decode("ascii")
        safe = text.isprintable() and not text.startswith(_UNSAFE_START) and not text.endswith(" ")
    except UnicodeDecodeError:
        safe = False
    if safe:
        return f"{attribute}: {text}"
    return f"{attribute}:: {base64.b64encode(value).decode('ascii')}"
