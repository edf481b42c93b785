"""Ordered schema migrations for the inventory store.

Each migration is a function that receives an open connection inside a transaction. The
store records how many have run in ``PRAGMA user_version``; append new migrations at the end
and never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
def create_runs(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started TEXT NOT NULL,
            finished TEXT,
            command TEXT NOT NULL,
            operator TEXT NOT NULL,
            host TEXT NOT NULL,
            status TEXT NOT NULL
        )"""
    )


@migration
def runs_track_owner_and_summary(db: sqlite3.Connection) -> None:
    # The pid lets a later run tell a crashed run ("incomplete") from one still going;
    # the summary holds the run's headline figures for reports and log shippers.
    db.execute("ALTER TABLE runs ADD COLUMN pid INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN client TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN summary TEXT")


@migration
def create_audit_head(db: sqlite3.Connection) -> None:
    # The audit log's latest entry hash, kept outside the log so a truncated tail shows.
    db.execute(
        """CREATE TABLE audit_head (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL
        )"""
    )


@migration
def create_inventory_tables(db: sqlite3.Connection) -> None:
    """Hosts, services, directory objects, findings, rotations and the credential checklist.

    A host is keyed by MAC where known, by IP otherwise; everything observed in a run hangs
    off (run_id, host_id) so "state as of run N" and "diff run A..B" are plain queries.
    ``run_documents`` keeps each command's full JSON result for reports. No column anywhere
    holds a secret: rotations name keyring entries and version labels only.
    """
    _execute_each(
        db,
        """
        CREATE TABLE hosts (
            id INTEGER PRIMARY KEY,
            mac TEXT UNIQUE,
            ip TEXT,
            first_run INTEGER REFERENCES runs(id),
            last_run INTEGER REFERENCES runs(id)
        );
        CREATE INDEX hosts_ip ON hosts(ip);
        CREATE TABLE host_observations (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            host_id INTEGER NOT NULL REFERENCES hosts(id),
            ip TEXT NOT NULL,
            mac TEXT,
            vendor TEXT,
            mac_randomized INTEGER NOT NULL DEFAULT 0,
            hostnames TEXT NOT NULL DEFAULT '[]',
            sources TEXT NOT NULL DEFAULT '[]',
            os_name TEXT,
            os_accuracy INTEGER,
            snmp TEXT,
            device_class TEXT NOT NULL DEFAULT 'unknown',
            platform TEXT,
            platform_confidence REAL,
            extra TEXT,
            PRIMARY KEY (run_id, host_id)
        );
        CREATE TABLE services (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            host_id INTEGER NOT NULL REFERENCES hosts(id),
            port INTEGER NOT NULL,
            proto TEXT NOT NULL,
            state TEXT NOT NULL,
            service TEXT,
            product TEXT,
            version TEXT,
            extra TEXT,
            PRIMARY KEY (run_id, host_id, port, proto)
        );
        CREATE TABLE directory_objects (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            sid TEXT NOT NULL,
            sam TEXT,
            dn TEXT,
            kind TEXT NOT NULL,
            enabled INTEGER,
            attributes TEXT,
            PRIMARY KEY (run_id, sid)
        );
        CREATE TABLE group_memberships (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            group_sid TEXT NOT NULL,
            group_name TEXT NOT NULL,
            member_sid TEXT NOT NULL,
            member_sam TEXT,
            member_dn TEXT,
            member_kind TEXT NOT NULL,
            enabled INTEGER,
            path TEXT NOT NULL,
            via_primary_group INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, group_sid, member_sid)
        );
        CREATE TABLE findings (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            source TEXT NOT NULL,
            rule TEXT NOT NULL,
            severity TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail TEXT
        );
        CREATE INDEX findings_run ON findings(run_id);
        CREATE TABLE rotations (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            host TEXT NOT NULL,
            platform TEXT,
            username TEXT NOT NULL,
            status TEXT NOT NULL,
            verified INTEGER NOT NULL DEFAULT 0,
            saved INTEGER NOT NULL DEFAULT 0,
            old_password_refused INTEGER,
            error TEXT,
            started TEXT NOT NULL,
            finished TEXT
        );
        CREATE TABLE rotation_steps (
            rotation_id INTEGER NOT NULL REFERENCES rotations(id),
            seq INTEGER NOT NULL,
            step TEXT NOT NULL,
            outcome TEXT NOT NULL,
            at TEXT NOT NULL,
            detail TEXT,
            PRIMARY KEY (rotation_id, seq)
        );
        CREATE TABLE run_documents (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (run_id, kind)
        );
        CREATE TABLE checklist_items (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            target TEXT NOT NULL,
            target_ref TEXT,
            account TEXT NOT NULL DEFAULT '',
            handling TEXT NOT NULL CHECK (handling IN ('automatic', 'manual')),
            state TEXT NOT NULL DEFAULT 'inherited'
                CHECK (state IN ('inherited', 'changed', 'not_applicable', 'accepted_risk')),
            note TEXT,
            decided_by TEXT,
            decided_at TEXT,
            rotation_id INTEGER REFERENCES rotations(id),
            created_run INTEGER REFERENCES runs(id),
            UNIQUE (kind, target, account)
        );
        """,
    )


@migration
def create_webdns_tables(db: sqlite3.Connection) -> None:
    """Public DNS records and TLS certificates per ``keyturn dns`` run (issue 19), so the next
    run can say which record or certificate was added, removed or changed."""
    _execute_each(
        db,
        """
        CREATE TABLE dns_records (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            domain TEXT NOT NULL,
            name TEXT NOT NULL,
            rtype TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (run_id, domain, name, rtype, value)
        );
        CREATE TABLE certificates (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            host TEXT NOT NULL,
            port INTEGER NOT NULL,
            subject TEXT,
            issuer TEXT,
            sans TEXT NOT NULL DEFAULT '[]',
            serial TEXT,
            not_before TEXT,
            not_after TEXT,
            key_type TEXT,
            key_bits INTEGER,
            signature_hash TEXT,
            self_signed INTEGER,
            protocol TEXT,
            error TEXT,
            PRIMARY KEY (run_id, host, port)
        );
        """,
    )


def _execute_each(db: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the migration's transaction first; run statement by statement.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


@migration
def create_topology_tables(db: sqlite3.Connection) -> None:
    # The diagram's links and host placements per topology run, queryable without parsing
    # the run's document (which run_documents keeps whole, kind 'topology').
    _execute_each(
        db,
        """
        CREATE TABLE topology_links (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            a TEXT NOT NULL,
            a_port TEXT NOT NULL,
            b TEXT NOT NULL,
            b_port TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('confirmed', 'inferred')),
            protocols TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX topology_links_run ON topology_links (run_id);
        CREATE TABLE topology_hosts (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            mac TEXT NOT NULL,
            ip TEXT,
            name TEXT,
            device TEXT NOT NULL,
            port TEXT NOT NULL,
            vlan INTEGER,
            PRIMARY KEY (run_id, mac)
        );
        """,
    )


@migration
def create_review_tables(db: sqlite3.Connection) -> None:
    # Every rule of every reviewed firewall per review run (issue 17): the next run's diff
    # (rules added, removed, changed) and the CSV export read these rows; findings go to the
    # shared findings table (source 'review'), the whole result to run_documents ('review').
    _execute_each(
        db,
        """
        CREATE TABLE review_rules (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            device TEXT NOT NULL,
            platform TEXT NOT NULL,
            tbl TEXT NOT NULL,
            rule_id TEXT NOT NULL,
            pos INTEGER NOT NULL,
            verdict TEXT NOT NULL,
            sources TEXT NOT NULL,
            destinations TEXT NOT NULL,
            services TEXT NOT NULL,
            src_zones TEXT NOT NULL,
            dst_zones TEXT NOT NULL,
            logged INTEGER NOT NULL,
            enabled INTEGER NOT NULL,
            hits INTEGER,
            implicit INTEGER NOT NULL,
            fingerprint TEXT NOT NULL,
            PRIMARY KEY (run_id, device, tbl, rule_id)
        );
        CREATE INDEX review_rules_device ON review_rules (device, run_id);
        """,
    )


@migration
def index_checklist_by_target(db: sqlite3.Connection) -> None:
    # mark_rotated finds a rotated credential's item by (target, account) whatever its kind
    # (prefill asked the same per device until it read the checklist once); the UNIQUE
    # (kind, target, account) index cannot answer without its first column, so each look-up
    # scanned the table: after a /16's ~2,000 device items, two scans per rotated account.
    db.execute("CREATE INDEX checklist_items_target ON checklist_items (target, account)")
