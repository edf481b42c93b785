"""Self-relative security descriptors (MS-DTYP 2.4.6): decode, and drop one ACE exactly.

The audit reads ``nTSecurityDescriptor`` with the SD-flags control set to owner + group +
DACL (0x07), so an account without the SACL privilege still gets an answer, and reads
``msDS-AllowedToActOnBehalfOfOtherIdentity`` (an SD whose DACL lists who may delegate).
Values come from the directory: every length and offset is checked before it is used.

Removing an ACE keeps every other byte: the DACL is rebuilt from the raw bytes of the ACEs
that stay, so writing the original value back restores the descriptor byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from uuid import UUID

from agent.directory.flags import decode_sid

# The SD-flags control's values (MS-ADTS 3.1.1.3.4.1.11; the control is in connection.py).
OWNER_SECURITY_INFORMATION = 0x1
GROUP_SECURITY_INFORMATION = 0x2
DACL_SECURITY_INFORMATION = 0x4
SD_FLAGS_READ = OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION

# ACE types (MS-DTYP 2.4.4.1) the audit interprets; others are kept as raw bytes.
ACCESS_ALLOWED = 0x00
ACCESS_DENIED = 0x01
ACCESS_ALLOWED_OBJECT = 0x05
ACCESS_DENIED_OBJECT = 0x06
_OBJECT_TYPES = {ACCESS_ALLOWED_OBJECT, ACCESS_DENIED_OBJECT}
INHERITED_ACE = 0x10
ACE_OBJECT_TYPE_PRESENT = 0x1
ACE_INHERITED_OBJECT_TYPE_PRESENT = 0x2

# Access mask bits for directory objects (MS-ADTS 5.1.3.2).
RIGHTS = {
    "CREATE_CHILD": 0x1,
    "DELETE_CHILD": 0x2,
    "LIST_CONTENTS": 0x4,
    "SELF_WRITE": 0x8,
    "READ_PROPERTY": 0x10,
    "WRITE_PROPERTY": 0x20,
    "DELETE_TREE": 0x40,
    "LIST_OBJECT": 0x80,
    "CONTROL_ACCESS": 0x100,
    "DELETE": 0x10000,
    "READ_CONTROL": 0x20000,
    "WRITE_DACL": 0x40000,
    "WRITE_OWNER": 0x80000,
    "GENERIC_ALL": 0x10000000,
    "GENERIC_EXECUTE": 0x20000000,
    "GENERIC_WRITE": 0x40000000,
    "GENERIC_READ": 0x80000000,
}
FULL_CONTROL = 0xF01FF
# Rights that let a principal change the object or take it over.
WRITE_RIGHTS = (
    RIGHTS["WRITE_PROPERTY"] | RIGHTS["WRITE_DACL"] | RIGHTS["WRITE_OWNER"]
    | RIGHTS["GENERIC_ALL"] | RIGHTS["GENERIC_WRITE"] | RIGHTS["SELF_WRITE"]
    | RIGHTS["DELETE"] | RIGHTS["CREATE_CHILD"]
)  # fmt: skip

# Extended rights and property sets the rules name (MS-ADTS 5.1.3.2.1).
GET_CHANGES = "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"
GET_CHANGES_ALL = "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2"
GET_CHANGES_FILTERED = "89e95b76-444d-4c62-991a-0facbeda640c"
OBJECT_TYPE_NAMES = {
    GET_CHANGES: "DS-Replication-Get-Changes",
    GET_CHANGES_ALL: "DS-Replication-Get-Changes-All",
    GET_CHANGES_FILTERED: "DS-Replication-Get-Changes-In-Filtered-Set",
    "00299570-246d-11d0-a768-00aa006e0529": "User-Force-Change-Password",
    "bf9679c0-0de6-11d0-a285-00aa003049e2": "member",
    "f3a64788-5306-11d1-a9c5-0000f80367c1": "servicePrincipalName",
    "3f78c3e5-f79a-46bd-a0b8-9d18116ddc79": "msDS-AllowedToActOnBehalfOfOtherIdentity",
}


@dataclass(frozen=True)
class Ace:
    type: int
    flags: int
    mask: int
    sid: str
    object_type: str | None = None  # GUID, lower case
    inherited_object_type: str | None = None
    raw: bytes = field(default=b"", repr=False)

    @property
    def allows(self) -> bool:
        return self.type in (ACCESS_ALLOWED, ACCESS_ALLOWED_OBJECT)

    @property
    def inherited(self) -> bool:
        return bool(self.flags & INHERITED_ACE)

    def grants(self, bits: int) -> bool:
        return self.allows and bool(self.mask & bits)

    def rights(self) -> list[str]:
        if self.mask & FULL_CONTROL == FULL_CONTROL:
            return ["FULL_CONTROL"]
        return [name for name, bit in RIGHTS.items() if self.mask & bit]

    def evidence(self, principal: str) -> dict:
        """The ACE as a finding shows it (and a plan finds it again)."""
        return {
            "principal": principal,
            "sid": self.sid,
            "type": "allow" if self.allows else "deny",
            "rights": self.rights(),
            "mask": self.mask,
            "object_type": self.object_type,
            "object_type_name": OBJECT_TYPE_NAMES.get(self.object_type or ""),
            "inherited": self.inherited,
            "ace_hex": self.raw.hex(),
        }


@dataclass(frozen=True)
class SecurityDescriptor:
    control: int
    owner: str | None
    group: str | None
    dacl: tuple[Ace, ...] | None  # None: no DACL present (not the same as an empty one)
    raw: bytes = field(repr=False)


def parse(raw: bytes) -> SecurityDescriptor:
    """Decode a self-relative SD; ValueError on anything malformed."""
    if len(raw) < 20 or raw[0] != 1:
        raise ValueError("not a self-relative security descriptor (revision 1)")
    control, owner_off, group_off, _sacl_off, dacl_off = struct.unpack_from("<HIIII", raw, 2)
    return SecurityDescriptor(
        control=control,
        owner=_sid_at(raw, owner_off),
        group=_sid_at(raw, group_off),
        dacl=tuple(_acl(raw, dacl_off)) if dacl_off else None,
        raw=raw,
    )


def without_ace(raw: bytes, ace_raw: bytes) -> bytes:
    """``raw`` with the first DACL ACE whose bytes equal ``ace_raw`` removed.

    Owner, group and SACL keep their bytes; the DACL moves to the end (a self-relative SD may
    place its parts in any order) with its size and count fixed. ValueError if absent.
    """
    sd = parse(raw)
    if sd.dacl is None:
        raise ValueError("the descriptor has no DACL")
    kept = list(sd.dacl)
    for index, ace in enumerate(kept):
        if ace.raw == ace_raw:
            del kept[index]
            break
    else:
        raise ValueError("the ACE is not in the DACL")
    _control, owner_off, group_off, sacl_off, dacl_off = struct.unpack_from("<HIIII", raw, 2)
    acl_revision = raw[dacl_off]
    body = b"".join(ace.raw for ace in kept)
    dacl = struct.pack("<BBHHH", acl_revision, 0, 8 + len(body), len(kept), 0) + body
    dacl_size = struct.unpack_from("<H", raw, dacl_off + 2)[0]
    # The usual layout has the DACL last: cut it off; otherwise leave the old bytes unused.
    head = raw[:dacl_off] if dacl_off + dacl_size == len(raw) else raw
    new_dacl_off = len(head)
    out = bytearray(head + dacl)
    struct.pack_into("<IIII", out, 4, owner_off, group_off, sacl_off, new_dacl_off)
    return bytes(out)


def _sid_at(raw: bytes, offset: int) -> str | None:
    if not offset:
        return None
    if offset + 8 > len(raw):
        raise ValueError("SID offset beyond the descriptor")
    count = raw[offset + 1]
    end = offset + 8 + 4 * count
    if end > len(raw):
        raise ValueError("SID runs past the descriptor")
    return decode_sid(raw[offset:end])


def _acl(raw: bytes, offset: int) -> list[Ace]:
    if offset + 8 > len(raw):
        raise ValueError("ACL offset beyond the descriptor")
    _rev, _sbz, size, count, _sbz2 = struct.unpack_from("<BBHHH", raw, offset)
    end = offset + size
    if end > len(raw):
        raise ValueError("ACL runs past the descriptor")
    aces = []
    pos = offset + 8
    for _ in range(count):
        if pos + 4 > end:
            raise ValueError("ACE header beyond the ACL")
        ace_type, flags, ace_size = struct.unpack_from("<BBH", raw, pos)
        if ace_size < 8 or pos + ace_size > end:
            raise ValueError("ACE size out of bounds")
        aces.append(_ace(raw[pos : pos + ace_size], ace_type, flags))
        pos += ace_size
    return aces


def _ace(data: bytes, ace_type: int, flags: int) -> Ace:
    mask = struct.unpack_from("<I", data, 4)[0]
    pos = 8
    object_type = inherited_type = None
    if ace_type in _OBJECT_TYPES:
        present = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        if present & ACE_OBJECT_TYPE_PRESENT:
            object_type = str(UUID(bytes_le=data[pos : pos + 16]))
            pos += 16
        if present & ACE_INHERITED_OBJECT_TYPE_PRESENT:
            inherited_type = str(UUID(bytes_le=data[pos : pos + 16]))
            pos += 16
    if ace_type not in (ACCESS_ALLOWED, ACCESS_DENIED, *_OBJECT_TYPES):
        return Ace(ace_type, flags, mask, "", raw=data)  # callback/audit ACEs: kept, not read
    count = data[pos + 1] if pos + 1 < len(data) else 0
    return Ace(ace_type, flags, mask, decode_sid(data[pos : pos + 8 + 4 * count]),
               object_type, inherited_type, raw=data)  # fmt: skip
