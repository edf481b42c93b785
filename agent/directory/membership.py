"""Effective membership of a group with the path to every member (pure; no LDAP here).

The directory gives three kinds of edges: the ``member`` values of a group (users, computers,
groups, foreign security principals), and ``primaryGroupID`` on accounts, which AD never
lists in ``member``/``memberOf`` and which the in-chain matching rule does not follow. A
breadth-first walk over both gives every transitive member with its shortest path.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agent.directory.flags import domain_of
from agent.directory.model import DirObject


@dataclass(frozen=True)
class Member:
    obj: DirObject
    # Group names from the audited group down to the member's direct group.
    path: tuple[str, ...]
    via_primary_group: bool

    def as_dict(self) -> dict:
        return {
            "sam": self.obj.sam,
            "dn": self.obj.dn,
            "sid": self.obj.sid,
            "kind": self.obj.public_kind,
            "enabled": self.obj.enabled,
            "path": list(self.path),
            "via_primary_group": self.via_primary_group,
        }


@dataclass
class Graph:
    """What the walk needs: every object by DN (lower-cased) and accounts by primary group."""

    objects: dict[str, DirObject]
    domain_sid: str
    by_primary_group: dict[int, list[DirObject]]

    @classmethod
    def build(cls, objects: Iterable[DirObject], domain_sid: str) -> Graph:
        by_dn: dict[str, DirObject] = {}
        primary: dict[int, list[DirObject]] = {}
        for obj in objects:
            by_dn[obj.dn.lower()] = obj
            if obj.primary_group_id is not None:
                primary.setdefault(obj.primary_group_id, []).append(obj)
        for members in primary.values():
            members.sort(key=lambda o: o.sam.lower())
        return cls(by_dn, domain_sid, primary)

    def lookup(self, dn: str) -> DirObject | None:
        return self.objects.get(dn.lower())


def effective_members(group: DirObject, graph: Graph) -> tuple[list[Member], list[str]]:
    """Every transitive member of ``group`` and the member DNs that could not be resolved
    (objects the bind account cannot read, or outside this domain's naming context)."""
    found: dict[str, Member] = {}
    unresolved: list[str] = []
    queue: deque[tuple[DirObject, tuple[str, ...]]] = deque([(group, (group.sam,))])
    expanded = {group.sid}
    while queue:
        current, path = queue.popleft()
        for member, via_primary in _links(current, graph, unresolved):
            if member.sid in found or member.sid == group.sid:
                continue
            found[member.sid] = Member(member, path, via_primary)
            if member.kind == "group" and member.sid not in expanded:
                expanded.add(member.sid)
                queue.append((member, (*path, member.sam)))
    members = sorted(found.values(), key=lambda m: (len(m.path), m.obj.sam.lower()))
    return members, sorted(set(unresolved))


def _links(group: DirObject, graph: Graph, unresolved: list[str]) -> list[tuple[DirObject, bool]]:
    direct = []
    for dn in group.members:
        obj = graph.lookup(dn)
        if obj is None:
            unresolved.append(dn)
        else:
            direct.append((obj, False))
    direct.sort(key=lambda link: link[0].sam.lower())
    # Only a group of this domain can be somebody's primary group.
    primary = (
        graph.by_primary_group.get(group.rid, [])
        if domain_of(group.sid) == graph.domain_sid
        else []
    )
    return direct + [(obj, True) for obj in primary]


def privileged_accounts(memberships: Mapping[str, list[Member]]) -> dict[str, DirObject]:
    """Accounts (not groups, not foreign principals) in any of the given groups, by SID."""
    return {
        m.obj.sid: m.obj for members in memberships.values() for m in members if m.obj.is_account
    }
