import sqlite3
import subprocess
import sys

import pytest

from agent.core.errors import OperationFailed
from inventory.migrations import MIGRATIONS
from inventory.store import Store


def test_new_store_is_at_latest_schema():
    with Store(":memory:") as store:
        assert store.schema_version == len(MIGRATIONS)


def test_older_schema_is_migrated(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    MIGRATIONS[0](db)  # a store written by the first release: only the runs table
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO runs (started, command, operator, host, status)"
        " VALUES ('2026-01-01T00:00:00Z', 'discover', 'alice', 'laptop', 'ok')"
    )
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        [run] = store.runs()
        assert (run.command, run.operator, run.status) == ("discover", "alice", "ok")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    db.close()
    with pytest.raises(OperationFailed, match="newer keyturn"):
        Store(path)


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OperationFailed, match="not a usable keyturn store"):
        Store(path)


def test_run_lifecycle_and_failure():
    with Store(":memory:") as store:
        with store.run("discover", "alice") as run_id:
            pass
        assert store.get_run(run_id).status == "ok"
        with pytest.raises(RuntimeError), store.run("ad", "alice") as failed_id:
            raise RuntimeError("boom")
        assert store.get_run(failed_id).status == "failed"
        assert store.latest_run().id == run_id


def test_crashed_run_is_marked_incomplete_and_file_stays_usable(tmp_path):
    path = tmp_path / "crash.db"
    code = (
        "import os\nfrom inventory.store import Store\n"
        f"s = Store({str(path)!r})\nrun = s.begin_run('discover', 'alice')\n"
        "with s.transaction() as db:\n"
        "    db.execute(\"UPDATE runs SET summary = 'half' WHERE id = ?\", (run,))\n"
        "    os._exit(9)\n"
    )
    result = subprocess.run([sys.executable, "-c", code])
    assert result.returncode == 9
    with Store(path) as store:
        [run] = store.runs()
        assert run.status == "incomplete"
        assert run.summary is None  # the half-written transaction never landed
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_store_refuses_another_clients_config(tmp_path, cli_env):
    import subprocess as sp

    from tests.conftest import KEYTURN

    store = tmp_path / "acme.db"
    with Store(store) as opened:
        opened.finish_run(opened.begin_run("discover", "alice", "acme"), "ok")
    site = tmp_path / "globex.toml"
    site.write_text('client = "globex"\n')
    result = sp.run(
        [KEYTURN, "--config", str(site), "--store", str(store), "audit", "show"],
        capture_output=True,
        text=True,
        env=cli_env,
    )
    assert result.returncode == 2
    assert "inventory of client acme, not 'globex'" in result.stderr


@pytest.mark.parametrize("statement", ["BEGIN IMMEDIATE", "COMMIT"])
def test_an_interrupt_next_to_begin_or_commit_leaves_no_transaction_open(statement):
    """A signal handler that raises (discover's SIGTERM) can land right after BEGIN or right
    before COMMIT; the connection must not stay in a transaction that later writes would
    join and the process exit would roll back. The stand-in raises where the signal would."""

    class Interrupting:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __getattr__(self, name: str):
            return getattr(self.db, name)

        def execute(self, sql: str, *args):
            if sql == statement == "COMMIT":
                raise KeyboardInterrupt  # before the COMMIT runs
            cursor = self.db.execute(sql, *args)
            if sql == statement:
                raise KeyboardInterrupt  # just after BEGIN ran
            return cursor

    with Store(":memory:") as store:
        real = store.db
        store.db = Interrupting(real)
        with pytest.raises(KeyboardInterrupt), store.transaction() as db:
            db.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 1, 'x')")
        assert not real.in_transaction
        store.db = real
        with store.transaction() as db:
            db.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 2, 'y')")
        assert not real.in_transaction
        assert [tuple(row) for row in real.execute("SELECT seq FROM audit_head")] == [(2,)]
