"""One ``run_summary`` JSON log line per run, for log shippers (the --log-file is JSON lines)."""

from __future__ import annotations

from agent.core.logsetup import get_logger
from inventory.store import Store

log = get_logger("run")


def log_run_summaries(store: Store, *, after: int | None) -> int:
    """Log every run with id > ``after``; returns how many lines were written."""
    rows = store.db.execute(
        "SELECT id FROM runs WHERE id > ? ORDER BY id", (after or 0,)
    ).fetchall()
    for row in rows:
        run = store.get_run(row["id"])
        fields = {
            "event": "run_summary",
            "run_id": run.id,
            "command": run.command,
            "status": run.status,
            "operator": run.operator,
            "started": run.started,
            "finished": run.finished,
            "summary": run.summary or {},
        }
        log.info("run %s %s: %s", run.id, run.command, run.status, extra={"fields": fields})
    return len(rows)
