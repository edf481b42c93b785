"""Topology runs in the store: the document (devices, links, hosts, subnets, diff, the
rendered SVG) in run_documents, its links and host placements as rows for queries."""

from __future__ import annotations

import json
from typing import Any

from agent.core.jsontext import compact
from inventory.store import Store, finished

KIND = "topology"


def save(store: Store, run_id: int, document: dict[str, Any]) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM topology_links WHERE run_id = ?", (run_id,))
        db.execute("DELETE FROM topology_hosts WHERE run_id = ?", (run_id,))
        db.executemany(
            "INSERT INTO topology_links (run_id, a, a_port, b, b_port, kind, protocols)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(run_id, link["a"], link["a_port"], link["b"], link["b_port"], link["kind"],
              ",".join(link.get("protocols", []))) for link in document.get("links", [])],
        )  # fmt: skip
        db.executemany(
            "INSERT OR REPLACE INTO topology_hosts (run_id, mac, ip, name, device, port, vlan)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(run_id, h["mac"], h.get("ip"), h.get("name"), h["device"], h["port"], h.get("vlan"))
             for h in document.get("hosts", [])],
        )  # fmt: skip
        db.execute(
            "INSERT OR REPLACE INTO run_documents (run_id, kind, data) VALUES (?, ?, ?)",
            (run_id, KIND, compact(document, sort_keys=True)),
        )


def document(store: Store, run_id: int) -> dict[str, Any] | None:
    row = store.db.execute(
        "SELECT data FROM run_documents WHERE run_id = ? AND kind = ?", (run_id, KIND)
    ).fetchone()
    return json.loads(row[0]) if row else None


def latest_document(store: Store, before: int | None = None) -> dict[str, Any] | None:
    """The newest finished topology run's document (older than ``before`` when given)."""
    row = store.db.execute(
        "SELECT d.data FROM run_documents d JOIN runs r ON r.id = d.run_id"
        f" WHERE d.kind = ? AND {finished('r.status')}"
        + (" AND r.id < ?" if before is not None else "")
        + " ORDER BY r.id DESC LIMIT 1",
        (KIND, before) if before is not None else (KIND,),
    ).fetchone()
    return json.loads(row[0]) if row else None


def host_ports(store: Store, run_id: int) -> dict[str, tuple[str, str]]:
    """mac -> (device, port) as placed in ``run_id``."""
    rows = store.db.execute(
        "SELECT mac, device, port FROM topology_hosts WHERE run_id = ?", (run_id,)
    )
    return {row[0]: (row[1], row[2]) for row in rows}
