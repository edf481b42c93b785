"""Use case: the MSP's all-clients report from the central PostgreSQL store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.core.errors import UsageError

if TYPE_CHECKING:
    from agent.context import AppContext


def write_all_clients(app: AppContext, formats: list[str], out_dir: str | None) -> list[Path]:
    """One row per client of the central store, in each format; returns the files."""
    import reports
    from inventory.overview import client_row
    from inventory.pg import client_stores
    from reports import msp

    if app.store_url is None:
        raise UsageError("--all-clients reads a central store: --store postgresql://...")
    unknown = sorted(set(formats) - set(msp.FORMATS))
    if unknown:
        raise UsageError(f"--all-clients writes {', '.join(msp.FORMATS)}, not {unknown[0]}")
    formats = list(formats) or ["html"]
    out = Path(out_dir or "keyturn-report-all-clients")
    rows = []
    for client, store in client_stores(app.store_url):
        row = client_row(store, client)
        if "html" in formats:
            # The drill-down: each client's own report, linked from its row. The signed
            # audit log stays on the machines that wrote it: not verified here.
            _, [page] = reports.generate(
                store,
                client=client,
                operator=app.operator,
                formats=["html"],
                out_dir=out / "clients",
            )
            row["report"] = page.relative_to(out).as_posix()
        rows.append(row)
    return msp.write(rows, formats, out)
