"""Use case: the MSP's all-clients report from the central PostgreSQL store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.core.errors import UsageError

if TYPE_CHECKING:
    from agent.context import AppContext


def write_all_clients(app: AppContext, formats: list[str], out_dir: str | None) -> list[Path]:
    """One row per client of the central store, in each format; returns the files."""
    from inventory.overview import client_row
    from inventory.pg import client_stores
    from reports import msp

    if app.store_url is None:
        raise UsageError("--all-clients reads a central store: --store postgresql://...")
    unknown = sorted(set(formats) - set(msp.FORMATS))
    if unknown:
        raise UsageError(f"--all-clients writes {', '.join(msp.FORMATS)}, not {unknown[0]}")
    rows = [client_row(store, client) for client, store in client_stores(app.store_url)]
    return msp.write(rows, list(formats) or ["html"], Path(out_dir or "keyturn-report-all-clients"))
