"""One ``run_summary`` JSON log line per run, for log shippers (the --log-file is JSON lines)."""

from __future__ import annotations

from agent.core.logsetup import get_logger
from inventory.queries import run_ids_after
from inventory.store import Store

log = get_logger("run")


def log_run_summaries(store: Store, *, after: int | None) -> int:
    """Log every run with id > ``after``; returns how many lines were written."""
    ids = run_ids_after(store, after or 0)
    for run_id in ids:
        run = store.get_run(run_id)
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
    return len(ids)
