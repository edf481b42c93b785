"""MSP benchmark: N client SQLite stores (the report fixtures' realistic store: two
discovers, two AD audits, a rotation run, a checklist) pushed into one PostgreSQL database
with the sync the `keyturn sync` command runs, a second (idempotent) push of all of them,
then the all-clients report built from the central database.

PostgreSQL is a throwaway Debian cluster on a unix socket (tests/pg_fixtures.py), started
and stopped here; nothing leaves the machine.

    .venv/bin/python benchmarks/bench_msp.py [--clients 200]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    args = parser.parse_args()

    import reports
    from inventory import sync
    from inventory.overview import client_row
    from inventory.pg import PgStore, client_stores
    from inventory.store import Store
    from reports import msp
    from tests.pg_fixtures import PgCluster
    from tests.report_fixtures import populate

    root = Path(tempfile.mkdtemp(prefix="keyturn-bench-msp-"))
    root.chmod(0o755)
    cluster = PgCluster(root / "cluster")
    try:
        url = cluster.new_database()
        template = root / "template.db"
        with Store(template) as store:
            populate(store)
        stores = []
        for number in range(args.clients):
            client = f"client{number:03d}"
            path = root / "sites" / f"{client}.db"
            path.parent.mkdir(exist_ok=True)
            shutil.copy(template, path)
            stores.append((client, path))

        rows = 0
        started = time.perf_counter()
        for client, path in stores:
            with Store(path) as local:
                with local.transaction() as db:
                    db.execute("UPDATE runs SET client = ?", (client,))
                with PgStore(url, client) as central, central.client_lock("sync"):
                    rows += sync.push(local, central).rows
        first = time.perf_counter() - started

        started = time.perf_counter()
        for client, path in stores:
            with Store(path) as local, PgStore(url, client) as central:
                sync.push(local, central)
        second = time.perf_counter() - started

        started = time.perf_counter()
        report = [client_row(store, client) for client, store in client_stores(url)]
        figures = time.perf_counter() - started
        started = time.perf_counter()
        msp.write(report, ["html", "csv", "json"], root / "report")
        rendered = time.perf_counter() - started
        started = time.perf_counter()
        for client, store in client_stores(url):
            reports.generate(
                store,
                client=client,
                operator="bench",
                formats=["html"],
                out_dir=root / "report" / "clients",
            )
        drill = time.perf_counter() - started

        print(f"clients: {args.clients}, rows per client: {rows // args.clients}")
        print(
            f"sync (first push, all clients): {first:.1f} s "
            f"({first / args.clients * 1000:.0f} ms per client)"
        )
        print(f"sync (second push, idempotent): {second:.1f} s")
        print(
            f"all-clients report: figures {figures:.2f} s, html+csv+json {rendered:.3f} s, "
            f"{len(report)} rows; drill-down pages (each client's HTML report) {drill:.1f} s"
        )
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
