"""Execute plan actions and their undo over a writable connection, one modify each.

Every target is addressed as ``<GUID=...>``. Outcomes: ``applied``; ``skipped`` (the object
changed since the plan, or the change is already there: nothing written); ``refused`` (a
guard or an action this build does not perform); ``failed`` (the DC said no). Nothing here
journals: the caller records each action before and after :func:`execute` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.directory import krbtgt, sd
from agent.directory.actions import KINDS, ActionKind, decode_values, encode_values, flip, inverse
from agent.directory.collectors import escape_filter
from agent.directory.connection import DirectoryConnection
from agent.directory.flags import RID_KRBTGT, DomainRid, Uac
from agent.directory.plan import guid_of

# LDAP result codes that mean "the object is not what the plan saw" (RFC 4511 4.1.9).
NO_SUCH_ATTRIBUTE = 16
ATTRIBUTE_OR_VALUE_EXISTS = 20
NO_SUCH_OBJECT = 32
IN_CHAIN = "1.2.840.113556.1.4.1941"

REFUSED_RESETS = {
    "reset_password": "not applied: password resets go through 'keyturn rotate' (escrowed "
                      "and verified), not through a plan",
}  # fmt: skip


@dataclass
class Outcome:
    status: str  # applied | skipped | refused | failed
    reason: str = ""
    before: dict = field(default_factory=dict)  # what the object held (touched values only)
    after: dict = field(default_factory=dict)  # what it holds now


@dataclass
class Guards:
    bind_guid: str | None  # the account keyturn is bound as
    domain_sid: str
    domain_dn: str
    # Domain Admins' GUID and its enabled users (nested and primary-group members counted),
    # read once per run on first need and kept current as actions apply: one in-chain search
    # per run, not one per action (100 disable_account actions: 293 s -> see docs).
    da_guid: str | None = None
    da_enabled: set[str] | None = None
    # The staged krbtgt reset's state (earlier resets, --force, the password generator).
    krbtgt: krbtgt.KrbtgtState | None = None


def execute(conn: DirectoryConnection, action: dict, guards: Guards) -> Outcome:
    """Apply one plan action (its ``before`` checked by the same modify that changes it)."""
    name = action["action"]
    if name in REFUSED_RESETS:
        return Outcome("refused", REFUSED_RESETS[name])
    if name == "reset_krbtgt":
        return _reset_krbtgt(conn, action, guards)
    refusal, lost = _guard(conn, action, guards)
    if refusal:
        return Outcome("refused", refusal)
    outcome = _execute(conn, action)
    if outcome.status == "applied" and guards.da_enabled is not None:
        guards.da_enabled -= lost
    return outcome


def _execute(conn: DirectoryConnection, action: dict) -> Outcome:
    kind = KINDS[action["action"]]
    target = f"<GUID={action['target_guid']}>"
    if kind.bit is not None:
        return _flip(conn, target, kind)
    if kind.name == "remove_ace":
        return _remove_aces(conn, target, [bytes.fromhex(h) for h in action.get("aces", [])])
    return _swap(conn, target, action["before"], action["after"])


def undo(conn: DirectoryConnection, entry: dict) -> Outcome:
    """Revert one journal entry of an apply run, only if the target still holds what the
    apply left (``entry['after']``)."""
    kind = KINDS[entry["action"]]
    target = f"<GUID={entry['target_guid']}>"
    if kind.bit is not None:
        return _flip(conn, target, inverse(kind))
    if entry["action"] == "remove_ace":
        return _restore_descriptor(conn, target, entry["before"], entry["after"])
    return _swap(conn, target, entry["after"], entry["before"])


def _flip(conn: DirectoryConnection, target: str, kind: ActionKind) -> Outcome:
    entry = conn.read(target, ["userAccountControl"])
    value = entry.text("userAccountControl") if entry else None
    if value is None:
        return Outcome("skipped", "the object no longer exists")
    current = int(value)
    wanted = flip(current, kind)
    if wanted == current:
        return Outcome(
            "skipped",
            f"changed since the plan: {Uac(kind.bit).name} is already "
            f"{'set' if kind.sets_bit else 'clear'}",
        )
    # Delete exactly the value read, add it with one bit flipped: if anything changed the
    # value since the read, the delete fails and nothing is written.
    code, message = conn.modify(
        target, {"userAccountControl": [("delete", [str(current)]), ("add", [str(wanted)])]}
    )
    before = {"userAccountControl": [str(current)]}
    after = {"userAccountControl": [str(wanted)]}
    return _result(code, message, before, after)


def _swap(conn: DirectoryConnection, target: str, before: dict, after: dict) -> Outcome:
    changes: dict[str, list[tuple[str, list]]] = {}
    for attribute in sorted({*before, *after}):
        old = before.get(attribute, [])
        new = after.get(attribute, [])
        ops = []
        gone = [v for v in old if v not in new]
        added = [v for v in new if v not in old]
        if gone:
            ops.append(("delete", decode_values(attribute, gone)))
        if added:
            ops.append(("add", decode_values(attribute, added)))
        if ops:
            changes[attribute] = ops
    code, message = conn.modify(target, changes)
    return _result(code, message, before, after)


def _reset_krbtgt(conn: DirectoryConnection, action: dict, guards: Guards) -> Outcome:
    state = guards.krbtgt
    if state is None or state.new_password is None:
        return Outcome("refused", "not applied: no password generator was given to this apply")
    if not state.tls:
        return Outcome("refused", "refused: a password is only ever sent over LDAPS or StartTLS")
    target = f"<GUID={action['target_guid']}>"
    entry = conn.read(target, ["pwdLastSet", "objectSid"])
    if entry is None:
        return Outcome("skipped", "the object no longer exists")
    sid = entry.first("objectSid")
    # Only the domain's own krbtgt (RID 502): a plan pointing this action elsewhere would
    # set a password nobody knows on an ordinary account.
    if sid is None or int.from_bytes(sid[-4:], "little") != RID_KRBTGT:
        return Outcome("refused", "refused: the target is not the domain's krbtgt account")
    current = entry.text("pwdLastSet")
    refusal = krbtgt.staging_refusal(state, action["before"].get("pwdLastSet", []), current)
    if refusal:
        return Outcome("refused", refusal)
    head = conn.read(guards.domain_dn, ["minPwdLength"])
    value = head.text("minPwdLength") if head else None
    minimum = int(value) if value and value.isdigit() else 0
    password = state.new_password(max(minimum, krbtgt.KRBTGT_LENGTH))
    code, message = conn.modify(
        target, {"unicodePwd": [("replace", [krbtgt.unicode_pwd(password)])]}
    )
    del password  # never needed again: not escrowed, not stored
    if code != 0:
        return _result(code, message, {}, {})
    now = conn.read(target, ["pwdLastSet"])
    return Outcome(
        "applied",
        "",
        {"pwdLastSet": [current] if current else []},
        {"pwdLastSet": now.texts("pwdLastSet") if now else []},
    )


def _remove_aces(conn: DirectoryConnection, target: str, aces: list[bytes]) -> Outcome:
    entry = conn.read(target, ["nTSecurityDescriptor"], sd_flags=sd.SD_FLAGS_READ)
    raw = entry.first("nTSecurityDescriptor") if entry else None
    if raw is None:
        return Outcome("skipped", "the object or its security descriptor is not readable")
    new = raw
    for ace in aces:
        try:
            new = sd.without_ace(new, ace)
        except ValueError:
            return Outcome("skipped", "changed since the plan: the ACE is no longer there")
    # Samba refuses a delete-old/add-new swap of nTSecurityDescriptor: compare (above), then
    # replace the DACL alone.
    code, message = conn.modify(
        target,
        {"nTSecurityDescriptor": [("replace", [new])]},
        sd_flags=sd.DACL_SECURITY_INFORMATION,
    )
    if code != 0:
        return _result(code, message, {}, {})
    return _descriptor_outcome(conn, target, raw)


def _restore_descriptor(
    conn: DirectoryConnection, target: str, before: dict, after: dict
) -> Outcome:
    entry = conn.read(target, ["nTSecurityDescriptor"], sd_flags=sd.SD_FLAGS_READ)
    raw = entry.first("nTSecurityDescriptor") if entry else None
    expected = decode_values("nTSecurityDescriptor", after["nTSecurityDescriptor"])[0]
    if raw != expected:
        return Outcome("skipped", "changed since the apply: the ACL is not what it left")
    old = decode_values("nTSecurityDescriptor", before["nTSecurityDescriptor"])[0]
    code, message = conn.modify(
        target,
        {"nTSecurityDescriptor": [("replace", [old])]},
        sd_flags=sd.DACL_SECURITY_INFORMATION,
    )
    if code != 0:
        return _result(code, message, {}, {})
    return _descriptor_outcome(conn, target, raw)


def _descriptor_outcome(conn: DirectoryConnection, target: str, before: bytes) -> Outcome:
    """The descriptor as the DC stores it now (it may normalise what was written): that is
    the value an undo must find."""
    entry = conn.read(target, ["nTSecurityDescriptor"], sd_flags=sd.SD_FLAGS_READ)
    now = entry.first("nTSecurityDescriptor") if entry else b""
    return Outcome(
        "applied",
        "",
        {"nTSecurityDescriptor": encode_values("nTSecurityDescriptor", [before])},
        {"nTSecurityDescriptor": encode_values("nTSecurityDescriptor", [now or b""])},
    )


def _result(code: int, message: str, before: dict, after: dict) -> Outcome:
    if code == 0:
        return Outcome("applied", "", before, after)
    if code in (NO_SUCH_ATTRIBUTE, ATTRIBUTE_OR_VALUE_EXISTS):
        return Outcome(
            "skipped",
            "changed since the plan: the object no longer holds the "
            "planned 'before' value (nothing written)",
        )
    if code == NO_SUCH_OBJECT:
        return Outcome("skipped", "the object no longer exists")
    return Outcome("failed", f"the DC refused the change: {message or code}")


def _guard(conn: DirectoryConnection, action: dict, guards: Guards) -> tuple[str | None, set[str]]:
    """(refusal or None, the enabled Domain Admins the action would take away)."""
    name = action["action"]
    protects = name in ("disable_account", "set_not_delegated", "add_to_protected_users")
    target = (
        action.get("member_guid") if name == "add_to_protected_users" else action["target_guid"]
    )
    if protects and guards.bind_guid and target == guards.bind_guid:
        return "guard: never disables or protects the account keyturn is bound as", set()
    if name == "disable_account":
        return _last_admin(conn, guards, removing=[f"<GUID={action['target_guid']}>"])
    if name == "remove_member":
        _domain_admins(conn, guards)
        if action["target_guid"] == guards.da_guid:
            return _last_admin(conn, guards, removing=action["before"].get("member", []))
    return None, set()


def _domain_admins(conn: DirectoryConnection, guards: Guards) -> set[str]:
    if guards.da_enabled is None:
        da = conn.read(f"<SID={guards.domain_sid}-{int(DomainRid.DOMAIN_ADMINS)}>",
                       ["objectGUID"])  # fmt: skip
        guards.da_guid = guid_of(da) if da else None
        guards.da_enabled = (
            set()
            if da is None
            else _enabled_users(
                conn, guards.domain_dn, da.dn, f"(primaryGroupID={int(DomainRid.DOMAIN_ADMINS)})"
            )
        )
    return guards.da_enabled


def _last_admin(
    conn: DirectoryConnection, guards: Guards, removing: list[str]
) -> tuple[str | None, set[str]]:
    """Refuse when no enabled user would stay in Domain Admins (nested members counted)."""
    enabled = _domain_admins(conn, guards)
    lost: set[str] = set()
    for dn in removing:
        entry = conn.read(dn, ["objectGUID", "objectClass"])
        if entry is None:
            continue
        lost.add(entry.dn.lower())
        if "group" in {c.lower() for c in entry.texts("objectClass")}:
            lost |= _enabled_users(conn, guards.domain_dn, entry.dn)
    lost &= enabled
    if enabled and not enabled - lost:
        return "guard: this would leave Domain Admins without an enabled member", lost
    return None, lost


def _enabled_users(
    conn: DirectoryConnection, domain_dn: str, group_dn: str, extra: str = ""
) -> set[str]:
    term = f"(memberOf:{IN_CHAIN}:={escape_filter(group_dn)})"
    query = (
        f"(&(objectCategory=person)(objectClass=user)"
        f"(!(userAccountControl:1.2.840.113556.1.4.803:=2))(|{term}{extra}))"
    )
    return {e.dn.lower() for e in conn.search(domain_dn, query, ["objectGUID"])}
