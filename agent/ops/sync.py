"""Use case: push this site's SQLite inventory to the MSP's central PostgreSQL store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.core.errors import OperationFailed, UsageError

if TYPE_CHECKING:
    from agent.context import AppContext
    from inventory.sync import Pushed


def sync_to(app: AppContext, url: str) -> Pushed:
    """Copy the client's store into ``url`` (its schema there), holding the local lock and
    the central advisory lock for the client, and record ``store.sync`` in the audit log."""
    import sqlite3

    from inventory import sync
    from inventory.pg import PgStore, is_url, redact

    if not is_url(url):
        raise UsageError(f"--to takes a postgresql:// URL, not {url!r}")
    if app.store_url is not None:
        raise UsageError("this client's store is already central; sync pushes a SQLite store")
    client = app.config.client
    with app.lock("sync"):
        target = PgStore(url, client)
        try:
            with target.client_lock("sync"):
                pushed = sync.push(app.store, target)
        except sqlite3.DatabaseError as exc:
            raise OperationFailed(f"sync to {redact(url)} failed: {exc}") from None
        finally:
            target.close()
    app.audit.append(
        "store.sync", redact(url), "ok", detail={"rows": pushed.rows, "tables": pushed.tables}
    )
    return pushed
