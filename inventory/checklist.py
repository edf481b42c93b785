"""The credential checklist: every inherited admin credential, tracked until it is changed.

One item per credential to change (kind, target, account). Prefill derives items from the
inventory - discovered network devices, privileged and service accounts in the directory -
plus the kinds no scan can find (antivirus console, VPN, web portals, remote support). It
only ever adds: a state an operator recorded (changed, not applicable, accepted risk) is
never overwritten by a later prefill. A successful rotation marks its item changed and links
the rotation record (:func:`mark_rotated`).
"""

from __future__ import annotations

import enum
import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from agent.core.errors import UsageError
from inventory.store import Store, finished, in_chunks, utcnow

KINDS = (
    "gateway_router", "firewall", "wireless_access", "printer", "switch", "nas_san",
    "virtual_machine", "voip", "windows_service_account", "workstation_admin",
    "other_network_device", "antivirus_console", "vpn_access", "web_portal", "remote_support",
)  # fmt: skip


class ItemState(enum.StrEnum):
    INHERITED = "inherited"  # as found: nobody has changed it yet
    CHANGED = "changed"
    NOT_APPLICABLE = "not_applicable"
    ACCEPTED_RISK = "accepted_risk"


STATES = tuple(str(state) for state in ItemState)
NEEDS_NOTE = (ItemState.NOT_APPLICABLE, ItemState.ACCEPTED_RISK)

# Discovered device class -> checklist kind. Servers and workstations carry no device
# credential of their own here: their admins are the directory items.
CLASS_KIND = {
    "router": "gateway_router",
    "firewall": "firewall",
    "switch": "switch",
    "access_point": "wireless_access",
    "printer": "printer",
    "nas": "nas_san",
    "hypervisor": "virtual_machine",
    "voip": "voip",
    "storage": "nas_san",
    # Management cards and embedded devices: each has an admin password of its own (a BMC
    # is the server's console, a UPS card can switch the power off).
    "bmc": "other_network_device",
    "ups": "other_network_device",
    "pdu": "other_network_device",
    "camera": "other_network_device",
    "iot": "other_network_device",
    "other": "other_network_device",
    "unknown": "other_network_device",
}
ROTATABLE_CLASSES = ("router", "firewall", "switch")
# What no scan finds; added once, to be filled in by the operator.
UNDISCOVERABLE = {
    "antivirus_console": "Antivirus management console",
    "vpn_access": "VPN portal",
    "web_portal": "Web portals (ISP, domain registrar, cloud admin)",
    "remote_support": "Remote support tool",
}
_SQL = re.compile(r"sql", re.IGNORECASE)
_SHAREPOINT = re.compile(r"sharepoint|^sp_", re.IGNORECASE)
_SERVICE_NAME = re.compile(r"^(svc|srv|service)[._-]", re.IGNORECASE)
_USER_KINDS = ("user",)  # managed service accounts (gMSA/MSA) rotate themselves


@dataclass(frozen=True)
class Item:
    id: int
    kind: str
    target: str
    account: str
    handling: str
    state: str
    target_ref: str | None = None
    note: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    rotation_id: int | None = None
    created_run: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PrefillResult:
    added: list[int] = field(default_factory=list)  # ids of the items added (items_by_id)
    kept: int = 0  # items that already existed, state untouched


# -- reading ---------------------------------------------------------------------------------
def items(store: Store, *, states: Iterable[str] = (), kinds: Iterable[str] = ()) -> list[Item]:
    """Items in checklist order (kind order of KINDS, then target, then account)."""
    clauses, args = [], []
    for column, values in (("state", list(states)), ("kind", list(kinds))):
        if values:
            clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            args.extend(values)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = store.db.execute(f"SELECT * FROM checklist_items{where}", args).fetchall()
    found = [_item(row) for row in rows]
    return sorted(found, key=lambda i: (KINDS.index(i.kind), i.target, i.account))


def get(store: Store, item_id: int) -> Item:
    row = store.db.execute("SELECT * FROM checklist_items WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        raise UsageError(f"no checklist item {item_id} (see 'keyturn checklist')")
    return _item(row)


def counts(store: Store) -> dict[str, int]:
    """Items per state, every state present (0 when none)."""
    result = dict.fromkeys(STATES, 0)
    for row in store.db.execute("SELECT state, COUNT(*) AS n FROM checklist_items GROUP BY state"):
        result[row["state"]] = row["n"]
    return result


# -- operator actions ------------------------------------------------------------------------
def add(
    store: Store,
    kind: str,
    target: str,
    account: str = "",
    *,
    handling: str = "manual",
    note: str | None = None,
    run_id: int | None = None,
) -> Item:
    """Add one item by hand; an existing (kind, target, account) is a usage error."""
    check_kind(kind)
    if not target.strip():
        raise UsageError("a checklist item needs a target (a host, an account, or a name)")
    with store.transaction() as db:
        try:
            cursor = db.execute(
                "INSERT INTO checklist_items (kind, target, account, handling, note, created_run)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (kind, target.strip(), account.strip(), handling, note, run_id),
            )
        except sqlite3.IntegrityError:
            label = " ".join(part for part in (kind, target.strip(), account.strip()) if part)
            raise UsageError(f"{label} is already on the checklist") from None
    return get(store, int(cursor.lastrowid))


def mark(
    store: Store,
    item_id: int,
    state: str,
    *,
    operator: str,
    note: str | None = None,
    who: str | None = None,
) -> tuple[Item, Item]:
    """Record a decision; returns (before, after). not_applicable and accepted_risk need a
    note (the reason an auditor will read); ``who`` defaults to the operator."""
    if state not in STATES:
        raise UsageError(f"state must be one of {', '.join(STATES)}")
    if state in NEEDS_NOTE and not (note and note.strip()):
        raise UsageError(f"marking an item {state} needs --note with the reason")
    before = get(store, item_id)
    with store.transaction() as db:
        db.execute(
            "UPDATE checklist_items SET state = ?, note = COALESCE(?, note), decided_by = ?,"
            " decided_at = ? WHERE id = ?",
            (state, note.strip() if note else None, who or operator, utcnow(), item_id),
        )
    return before, get(store, item_id)


def mark_rotated(
    store: Store, host: str, username: str, rotation_id: int, operator: str, kind: str = ""
) -> Item:
    """A successful rotation of ``username`` on ``host``: its item becomes ``changed``, linked
    to the rotation record. The item is found by (target, account), else the device's
    account-less item is adopted, else one is created (rotation of a device not yet listed)."""
    with store.transaction() as db:
        row = db.execute(
            "SELECT * FROM checklist_items WHERE target = ? AND account = ? ORDER BY id LIMIT 1",
            (host, username),
        ).fetchone()
        if row is None:
            row = db.execute(
                "SELECT * FROM checklist_items WHERE target = ? AND account = ''"
                " AND state = 'inherited' ORDER BY id LIMIT 1",
                (host,),
            ).fetchone()
        if row is None:
            kind = kind or CLASS_KIND.get(_latest_class(db, host) or "", "other_network_device")
            item_id = db.execute(
                "INSERT INTO checklist_items (kind, target, account, handling)"
                " VALUES (?, ?, ?, 'automatic')",
                (kind, host, username),
            ).lastrowid
        else:
            item_id = row["id"]
        db.execute(
            "UPDATE checklist_items SET account = ?, handling = 'automatic', state = 'changed',"
            " note = ?, decided_by = ?, decided_at = ?, rotation_id = ? WHERE id = ?",
            (
                username,
                f"rotated by keyturn (rotation {rotation_id})",
                operator,
                utcnow(),
                rotation_id,
                item_id,
            ),
        )
    return get(store, int(item_id))


# The checklist kind of a rotated credential that is not a device's (rotation's kinds).
ACCOUNT_KIND = {"ad": "windows_service_account", "windows_local": "workstation_admin"}


def mark_run(store: Store, run_id: int, operator: str) -> list[Item]:
    """:func:`mark_rotated` for every successful rotation recorded by rotate run ``run_id``."""
    rows = store.db.execute(
        "SELECT id, host, platform, username FROM rotations WHERE run_id = ?"
        " AND status = 'rotated' ORDER BY id",
        (run_id,),
    ).fetchall()
    marked = []
    for r in rows:
        host, kind = r["host"], ACCOUNT_KIND.get(r["platform"] or "", "")
        if r["platform"] == "ad":  # a domain account: its item names the domain, not the DC
            found = store.db.execute(
                "SELECT target FROM checklist_items WHERE account = ? AND kind = ? LIMIT 1",
                (r["username"], kind),
            ).fetchone()
            host = found["target"] if found else host
        marked.append(mark_rotated(store, host, r["username"], r["id"], operator, kind))
    return marked


# -- prefill ---------------------------------------------------------------------------------
def prefill(
    store: Store,
    *,
    discover_run: int | None = None,
    ad_run: int | None = None,
    credentials: Mapping[str, Iterable[str]] | None = None,
    platforms: Iterable[str] | Callable[[], Iterable[str]] = (),
    rotatable_classes: Iterable[str] = ROTATABLE_CLASSES,
    manual_accounts: Iterable[str] = (),
    run_id: int | None = None,
    directory_credentials: Iterable[str] = (),
) -> PrefillResult:
    """Add the items the inventory implies; never changes an existing item's state.

    ``discover_run``/``ad_run`` default to the newest finished run that recorded hosts /
    directory objects. ``credentials`` maps a host address to the accounts keyturn holds for
    it (the keyring), which name the account an automatic item rotates. ``platforms``: the
    platforms rotation can drive (the use case passes the driver registry, which inventory
    does not know; none: every device item is manual), or a call that lists them, made only
    when a device with a platform is found (the registry imports every driver module).
    ``manual_accounts``:
    accounts rotation from the inventory leaves alone (an IOS enable secret).
    ``directory_credentials``: sAMAccountNames whose password keyturn holds for the domain
    (kind ad): their service account items are ``automatic``.
    """
    credentials = {host: list(users) for host, users in (credentials or {}).items()}
    drivable = _Platforms(platforms)
    rotatable = set(rotatable_classes)
    result = PrefillResult()
    with store.transaction() as db:
        discover_run = discover_run or _latest_run_with(db, "host_observations")
        ad_run = ad_run or _latest_run_with(db, "directory_objects")
        wanted = [
            *_device_items(
                db, discover_run, credentials, rotatable, drivable, set(manual_accounts)
            ),
            *_directory_items(db, ad_run, {n.lower() for n in directory_credentials}),
            *_placeholders(db),
        ]
        listed = _Listed(db)
        for kind, target, account, handling, ref, note in wanted:
            if not listed.ensure(kind, target, account, handling, ref, note, run_id):
                result.kept += 1
        result.added = listed.insert()
    return result


class _Platforms:
    """The platforms rotation drives, listed when first asked about (``in``)."""

    def __init__(self, platforms: Iterable[str] | Callable[[], Iterable[str]]) -> None:
        self._source = platforms
        self._names: set[str] | None = None

    def __contains__(self, platform: object) -> bool:
        if platform is None:
            return False
        if self._names is None:
            source = self._source
            self._names = set(source() if callable(source) else source)
        return platform in self._names


def items_by_id(store: Store, ids: list[int]) -> list[Item]:
    """The items with ``ids``, in that order (one query per 500, not one per item)."""
    found: dict[int, Item] = {}
    for chunk, marks in in_chunks(ids):
        rows = store.db.execute(f"SELECT * FROM checklist_items WHERE id IN ({marks})", chunk)
        found.update((row["id"], _item(row)) for row in rows)
    return [found[item_id] for item_id in ids]


_Wanted = tuple[str, str, str, str, str | None, str | None]


def _device_items(
    db: sqlite3.Connection,
    run_id: int | None,
    credentials: dict[str, list[str]],
    rotatable: set[str],
    drivable: _Platforms,
    manual_accounts: set[str],
) -> list[_Wanted]:
    if run_id is None:
        return []
    ports: dict[int, list[str]] = {}
    ssh: set[int] = set()
    telnet: set[int] = set()
    for row in db.execute(
        "SELECT host_id, port, service FROM services WHERE run_id = ? AND state = 'open'"
        " ORDER BY port",
        (run_id,),
    ):
        ports.setdefault(row["host_id"], []).append(f"{row['service'] or 'tcp'}/{row['port']}")
        if row["port"] == 22 or row["service"] == "ssh":
            ssh.add(row["host_id"])
        if row["port"] == 23 or row["service"] == "telnet":
            telnet.add(row["host_id"])
    wanted = []
    for row in db.execute("SELECT * FROM host_observations WHERE run_id = ?", (run_id,)):
        device_class, platform = row["device_class"], row["platform"]
        kind = CLASS_KIND.get(device_class)
        if kind is None or (device_class == "unknown" and not platform):
            continue
        # keyturn rotates over SSH: a driver alone is not enough, SSH must have answered
        # (a switch seen only on telnet or SNMP is changed by hand).
        automatic = device_class in rotatable and platform in drivable and row["host_id"] in ssh
        names = json.loads(row["hostnames"] or "[]")
        what = " ".join(
            part for part in (names[0] if names else None, row["vendor"], platform) if part
        )
        services = ", ".join(ports.get(row["host_id"], [])[:6])
        label = f"{device_class} {what}".strip()
        for account in credentials.get(row["ip"]) or [""]:
            by_keyturn = automatic and account not in manual_accounts
            how = "rotated by keyturn" if by_keyturn else "change on its web/admin interface"
            if not by_keyturn and row["host_id"] in telnet and row["host_id"] not in ssh:
                how = "change by hand: telnet only (cleartext_management), no SSH answered"
            if automatic and not by_keyturn:
                how = "change by hand or with a rotation targets file"
            note = f"{label}: {how}" + (f" ({services})" if services else "")
            handling = "automatic" if by_keyturn else "manual"
            wanted.append((kind, row["ip"], account, handling, f"host:{row['host_id']}", note))
    return wanted


def _directory_items(
    db: sqlite3.Connection, run_id: int | None, held: set[str] = frozenset()
) -> list[_Wanted]:
    if run_id is None:
        return []
    objects = {row["sid"]: row for row in db.execute(
        "SELECT * FROM directory_objects WHERE run_id = ?", (run_id,)
    )}  # fmt: skip
    privileged: dict[str, set[str]] = {}
    for row in db.execute(
        "SELECT member_sid, group_name, enabled FROM group_memberships"
        " WHERE run_id = ? AND member_kind IN ('user')",
        (run_id,),
    ):
        if row["enabled"] != 0:
            privileged.setdefault(row["member_sid"], set()).add(row["group_name"])
    wanted = []
    for sid, row in objects.items():
        if row["kind"] not in _USER_KINDS:
            continue
        attributes = json.loads(row["attributes"] or "{}")
        spns = attributes.get("spns") or []
        sam = row["sam"] or sid
        groups = sorted(privileged.get(sid, ()))
        is_rid500 = sid.endswith("-500")
        if spns and row["enabled"] != 0:
            role = _service_role(sam, spns)
            kind = "windows_service_account"
            note = f"service account{role} with SPN {spns[0]}"
        elif groups and _SERVICE_NAME.match(sam):
            kind = "windows_service_account"
            note = f"service account{_service_role(sam, [])} by its name"
        elif is_rid500:
            kind = "workstation_admin"
            note = "built-in Administrator (RID 500)" + (
                " - disabled" if row["enabled"] == 0 else ""
            )
        elif groups:
            kind = "workstation_admin"
            note = "privileged: member of " + ", ".join(groups)
        else:
            continue
        if groups and kind != "workstation_admin":
            note += "; privileged: member of " + ", ".join(groups)
        # A service account (SPN) whose password keyturn holds: onboard --rotate resets it.
        handling = "manual"
        if spns and row["enabled"] != 0 and sam.lower() in held:
            handling, note = "automatic", note + "; rotated by keyturn (kind ad)"
        wanted.append((kind, _domain_of(row["dn"]), sam, handling, f"sid:{sid}", note))
    return wanted


def _placeholders(db: sqlite3.Connection) -> list[_Wanted]:
    """One item per kind no scan finds, unless the operator already listed that kind."""
    listed = {row["kind"] for row in db.execute("SELECT DISTINCT kind FROM checklist_items")}
    return [
        (kind, label, "", "manual", None, "to fill in: no scan can find this")
        for kind, label in UNDISCOVERABLE.items()
        if kind not in listed
    ]


def _service_role(sam: str, spns: list[str]) -> str:
    text = " ".join([sam, *spns])
    if any(spn.lower().startswith("mssqlsvc/") for spn in spns) or _SQL.search(sam):
        return " (SQL Server)"
    if _SHAREPOINT.search(sam) or "sharepoint" in text.lower():
        return " (SharePoint)"
    return ""


def _domain_of(dn: str | None) -> str:
    parts = [
        p.split("=", 1)[1] for p in (dn or "").split(",") if p.strip().upper().startswith("DC=")
    ]
    return ".".join(parts) if parts else "Active Directory"


class _Listed:
    """The checklist as prefill asks about it, read once and kept current as items are
    wanted: one query, not three per wanted item (a /16's ~2,000 device items), and the new
    items inserted together at the end (:meth:`insert`)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.named: set[tuple[str, str]] = set()  # (target, account) of every item
        self.kinds: set[tuple[str, str]] = set()  # (kind, target) of every item
        # (kind, target) -> the account-less, undecided item: its id, or its row to insert
        self.blank: dict[tuple[str, str], int | list[Any]] = {}
        self.new: list[list[Any]] = []  # rows to insert, in the order they were wanted
        self.last_id = 0
        for row in db.execute("SELECT id, kind, target, account, state FROM checklist_items"):
            self._note(row["id"], row["kind"], row["target"], row["account"], row["state"])
            self.last_id = max(self.last_id, row["id"])

    def _note(
        self, item: int | list[Any], kind: str, target: str, account: str, state: str
    ) -> None:
        self.named.add((target, account))
        self.kinds.add((kind, target))
        if not account and state == "inherited":
            self.blank[(kind, target)] = item

    def ensure(
        self,
        kind: str,
        target: str,
        account: str,
        handling: str,
        ref: str | None,
        note: str | None,
        run_id: int | None,
    ) -> bool:
        """Want an item; True when it is new (inserted by :meth:`insert`), False when kept
        as it is (any state).

        An account-less device item recorded before the account was known is adopted instead
        of duplicated, as long as nobody has decided on it yet."""
        # One item per credential: a named account already listed (perhaps under another
        # kind, if the device's class or the account's role was read differently since) is
        # kept as is.
        if account:
            if (target, account) in self.named:
                return False
            blank = self.blank.pop((kind, target), None)
            if isinstance(blank, int):
                self.db.execute(
                    "UPDATE checklist_items SET account = ?, handling = ? WHERE id = ?",
                    (account, handling, blank),
                )
            elif blank is not None:  # wanted earlier in this prefill: added with the account
                blank[3:5] = [account, handling]
            if blank is not None:
                self.named.add((target, account))
                return False
        elif (kind, target) in self.kinds:
            return False  # listed already: account-less, or under its named account(s)
        row = [kind, target, ref, account, handling, note, run_id]
        self.new.append(row)
        self._note(row, kind, target, account, "inherited")
        return True

    def insert(self) -> list[int]:
        """Insert the new items in one statement; their ids, in the order they were wanted.
        In this write transaction SQLite gives each new row the highest id so far plus one,
        so they are the ids past the highest one read, in order; a table whose ids reached
        the 64-bit limit gets random free ones, found then by the unique key."""
        if not self.new:
            return []
        self.db.executemany(
            "INSERT INTO checklist_items"
            " (kind, target, target_ref, account, handling, note, created_run)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            self.new,
        )
        ids = [
            int(row[0])
            for row in self.db.execute(
                "SELECT id FROM checklist_items WHERE id > ? ORDER BY id", (self.last_id,)
            )
        ]
        if len(ids) != len(self.new):
            ids = [
                int(self.db.execute(
                    "SELECT id FROM checklist_items WHERE kind = ? AND target = ? AND account = ?",
                    (row[0], row[1], row[3]),
                ).fetchone()[0])
                for row in self.new
            ]  # fmt: skip
        return ids


def _latest_run_with(db: sqlite3.Connection, table: str) -> int | None:
    row = db.execute(
        f"SELECT MAX(t.run_id) FROM {table} t JOIN runs r ON r.id = t.run_id"
        f" WHERE {finished('r.status')}"
    ).fetchone()
    return row[0]


def newest_run_with(store: Store, table: str, run_ids: list[int]) -> int | None:
    """The newest of ``run_ids`` that recorded rows in ``table`` (host_observations or
    directory_objects), or None."""
    if table not in ("host_observations", "directory_objects"):
        raise ValueError(f"not an inventory table: {table}")
    marks = ",".join("?" * len(run_ids))
    row = store.db.execute(
        f"SELECT MAX(t.run_id) FROM {table} t JOIN runs r ON r.id = t.run_id"
        f" WHERE t.run_id IN ({marks}) AND {finished('r.status')}",
        run_ids,
    ).fetchone()
    return row[0]


def created_in(store: Store, run_ids: list[int]) -> int:
    """How many items runs ``run_ids`` added."""
    marks = ",".join("?" * len(run_ids))
    return int(
        store.db.execute(
            f"SELECT COUNT(*) FROM checklist_items WHERE created_run IN ({marks})", run_ids
        ).fetchone()[0]
    )


def _latest_class(db: sqlite3.Connection, ip: str) -> str | None:
    row = db.execute(
        "SELECT o.device_class FROM host_observations o JOIN runs r ON r.id = o.run_id"
        f" WHERE o.ip = ? AND {finished('r.status')} ORDER BY o.run_id DESC LIMIT 1",
        (ip,),
    ).fetchone()
    return row["device_class"] if row else None


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UsageError(f"unknown checklist kind {kind!r}; valid: {', '.join(KINDS)}")


def _item(row: sqlite3.Row) -> Item:
    return Item(**{name: row[name] for name in Item.__dataclass_fields__})
