"""The remediation actions: what each one changes, whether it can be undone, what may break.

An action's ``before`` and ``after`` are ``{attribute: [values]}`` holding only the values
the action touches (text as is, binary attributes base64). Applying deletes the ``before``
values and adds the ``after`` values in ONE modify request, so the server itself checks that
the object still holds what the plan saw (a delete of a value that is not there fails the
whole request). Two kinds are checked differently, and the docs say so:

* ``userAccountControl`` actions own one bit: the current value is read, the bit's state is
  compared with the plan's, and the modify deletes exactly that current value and adds it
  with the one bit flipped, so no other bit is ever changed and a concurrent change still
  makes the modify fail.
* ``remove_ace``: Samba refuses a delete-old/add-new swap on ``nTSecurityDescriptor``, so the
  descriptor is read, the ACEs compared byte for byte, and replaced (DACL only, via the
  SD-flags control). A change between that read and the replace is not detected.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from agent.directory.flags import Uac

BINARY_ATTRIBUTES = frozenset({"ntsecuritydescriptor", "msds-allowedtoactonbehalfofotheridentity"})


@dataclass(frozen=True)
class ActionKind:
    name: str
    reversible: bool
    risk: str
    bit: Uac | None = None  # userAccountControl actions: the one bit owned
    sets_bit: bool = True  # True: the action sets ``bit``; False: it clears it


_KINDS = (
    ActionKind(
        "disable_account",
        True,
        "the account can no longer log on; a service account stops the services that run as it",
        Uac.ACCOUNTDISABLE,
        True,
    ),
    ActionKind(
        "set_not_delegated",
        True,
        "no service can act on the account's behalf any "
        "more (delegation-based single sign-on for it stops)",
        Uac.NOT_DELEGATED,
        True,
    ),
    ActionKind(
        "require_preauth",
        True,
        "clients that cannot pre-authenticate (old Kerberos "
        "stacks, some appliances) can no longer log on as it",
        Uac.DONT_REQ_PREAUTH,
        False,
    ),
    ActionKind(
        "clear_password_never_expires",
        True,
        "the password now expires under the "
        "domain policy: an old service account password may expire at once and stop its "
        "services",
        Uac.DONT_EXPIRE_PASSWORD,
        False,
    ),
    ActionKind(
        "clear_protocol_transition",
        True,
        "the account can no longer obtain tickets "
        "for users who did not log on with Kerberos (web single sign-on to back ends may "
        "stop)",
        Uac.TRUSTED_TO_AUTH_FOR_DELEGATION,
        False,
    ),
    ActionKind(
        "clear_unconstrained_delegation",
        True,
        "services on it that forward user credentials (double hop) stop doing so",
        Uac.TRUSTED_FOR_DELEGATION,
        False,
    ),
    ActionKind(
        "clear_des_only",
        True,
        "clients that only speak DES can no longer get tickets for it",
        Uac.USE_DES_KEY_ONLY,
        False,
    ),
    ActionKind(
        "clear_passwd_notreqd",
        True,
        "an account that really has an empty password "
        "keeps it until the next change, which must then meet the policy",
        Uac.PASSWD_NOTREQD,
        False,
    ),
    ActionKind(
        "clear_reversible_encryption",
        True,
        "CHAP/Digest authentication that needs the "
        "clear password stops after the next password change",
        Uac.ENCRYPTED_TEXT_PWD_ALLOWED,
        False,
    ),
    ActionKind(
        "remove_member",
        True,
        "members lose the rights the group gives, at their next logon or ticket renewal",
    ),
    ActionKind(
        "add_to_protected_users",
        True,
        "no NTLM, no delegation, no DES/RC4 Kerberos, no "
        "cached logon, 4-hour tickets: services and old clients using the account fail",
    ),
    ActionKind(
        "remove_spn",
        True,
        "Kerberos to that service name stops (clients fall back to NTLM or fail)",
    ),
    ActionKind(
        "clear_rbcd",
        True,
        "the listed principals can no longer delegate to it; a "
        "service relying on that delegation stops",
    ),
    ActionKind(
        "clear_admincount",
        True,
        "none while it is in no protected group; the "
        "AdminSDHolder ACL it kept stays until its ACL is reset",
    ),
    ActionKind(
        "set_machine_account_quota_zero",
        True,
        "ordinary users can no longer join "
        "computers to the domain; joins need a delegated or admin account",
    ),
    ActionKind(
        "remove_ace",
        True,
        "the principal loses the right; a tool really depending on it "
        "(an old sync or backup product) stops",
    ),
    ActionKind("reset_password", False, "every session and service using the old password stops"),
    ActionKind(
        "reset_krbtgt",
        False,
        "every TGT issued before the reset (renewals fail once the previous key rolls off); "
        "two resets in quick succession end every ticket and every inter-realm trust at once",
    ),
)
KINDS = {kind.name: kind for kind in _KINDS}


def encode_values(attribute: str, values: list[bytes]) -> list[str]:
    if attribute.lower() in BINARY_ATTRIBUTES:
        return [base64.b64encode(v).decode("ascii") for v in values]
    return [v.decode("utf-8") for v in values]


def decode_values(attribute: str, values: list[str]) -> list[bytes]:
    if attribute.lower() in BINARY_ATTRIBUTES:
        return [base64.b64decode(v, validate=True) for v in values]
    return [v.encode("utf-8") for v in values]


def flip(uac: int, kind: ActionKind) -> int:
    """``uac`` with the kind's bit in the state the action wants."""
    if kind.bit is None:
        raise ValueError(f"{kind.name} is not a userAccountControl action")
    return uac | int(kind.bit) if kind.sets_bit else uac & ~int(kind.bit)


def inverse(kind: ActionKind) -> ActionKind:
    """The undo of a userAccountControl action: the same bit, the other way."""
    return ActionKind(f"undo_{kind.name}", True, kind.risk, kind.bit, not kind.sets_bit)
