"""A real, throwaway PostgreSQL (Debian's) for the store tests: initdb + pg_ctl as the
``postgres`` system user, listening on a unix socket in a private folder only (no TCP), trust
authentication inside that folder, stopped and removed at the end of the session."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


class PgCluster:
    def __init__(self, root: Path) -> None:
        if not PG_BIN:
            raise RuntimeError("PostgreSQL is not installed: run scripts/setup.sh")
        self.bin = Path(PG_BIN[-1])
        self.root = root
        root.mkdir(mode=0o755)
        self.data = root / "data"
        self.socket_dir = root / "socket"
        for folder in (self.data, self.socket_dir):
            folder.mkdir(mode=0o700)
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            shutil.chown(root, self.user)
            for folder in (self.data, self.socket_dir):
                shutil.chown(folder, self.user)
        self._as_owner(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self._as_owner(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(root / "pg.log"),
            "-w",
            "-o",
            f"-c listen_addresses='' -k {self.socket_dir} -c fsync=off -c max_connections=200",
            "start",
        )

    def _as_owner(self, *argv: str) -> None:
        command = ["runuser", "-u", self.user, "--", *argv] if self.user else list(argv)
        subprocess.run(command, check=True, capture_output=True, cwd=self.root, timeout=120)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def new_database(self) -> str:
        """A fresh database (its URL): tests never see each other's clients."""
        import psycopg

        name = f"kt_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    # Not under pytest's tmp folder: that is 0700 root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="keyturn-pg-"))
    root.chmod(0o755)
    cluster = PgCluster(root / "cluster")
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg: PgCluster) -> str:
    return pg.new_database()


# -- the store suites on PostgreSQL --------------------------------------------------------
# With KEYTURN_TEST_STORE=postgresql, every test module's ``Store(path)`` opens a PostgreSQL
# store instead (one database per path, a new one for ":memory:"), so the SQLite suites run
# unchanged on the other backend. tests/test_store_pg.py runs them that way in a subprocess.
STORE_ENV = "KEYTURN_TEST_STORE"


@pytest.fixture(autouse=True)
def _store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.environ.get(STORE_ENV) != "postgresql":
        return
    from inventory import store as sqlite_store
    from inventory.pg import PgStore

    cluster = request.getfixturevalue("pg")
    databases: dict[str, str] = {}

    def open_pg(path) -> PgStore:
        key = str(path)
        if key == ":memory:" or key not in databases:
            databases[key] = cluster.new_database()
        return PgStore(databases[key], "test")

    module = request.module
    if getattr(module, "Store", None) is sqlite_store.Store:
        monkeypatch.setattr(module, "Store", open_pg)
