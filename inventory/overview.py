"""One row of figures per client (the MSP's all-clients report), read from a client's store."""

from __future__ import annotations

from typing import Any

from inventory import checklist, queries
from inventory.store import Store, finished

SEVERITIES = ("critical", "high", "medium", "low")


def client_row(store: Store, client: str) -> dict[str, Any]:
    """The newest finished discover and AD runs' figures, the checklist's CIS 4.7 figure,
    and when a rotation and a verify run last happened."""
    runs = queries.state_runs(store)
    discover = runs.discover.id if runs.discover else None
    ad = runs.ad.id if runs.ad else None
    counts = queries.onboard_counts(
        store,
        discover_run=discover or -1,
        ad_run=ad or -1,
        rotate_runs=[],
        finding_runs=[run for run in (discover, ad) if run is not None],
    )
    states = checklist.counts(store)
    total = sum(states.values())
    handled = total - states.get("inherited", 0)
    last_rotation = store.db.execute(
        "SELECT MAX(COALESCE(finished, started)) FROM rotations WHERE status = 'rotated'"
    ).fetchone()[0]
    last_verify = store.db.execute(
        f"SELECT MAX(finished) FROM runs WHERE command = 'verify' AND {finished()}"
    ).fetchone()[0]
    return {
        "client": client,
        "hosts": counts["hosts"],
        "privileged_accounts": counts["privileged_accounts"] if ad else None,
        "dialin_accounts": counts["dialin_allowed"] if ad else None,
        "findings": {s: counts["findings"].get(s, 0) for s in SEVERITIES}
        | {s: n for s, n in counts["findings"].items() if s not in SEVERITIES},
        "cis_4_7": {
            "no_longer_inherited": handled,
            "total": total,
            "share": round(handled / total, 4) if total else None,
        },
        "last_discover": runs.discover.finished if runs.discover else None,
        "last_rotation": last_rotation,
        "last_verify": last_verify,
    }
