import json

import pytest

from inventory.audit import AuditLog
from inventory.store import Store

KEY = bytes(range(32))


@pytest.fixture
def log(tmp_path):
    store = Store(tmp_path / "c.db")
    audit = AuditLog(tmp_path / "c.audit.jsonl", KEY, store, "alice")
    for n in range(5):
        audit.append("rotate.change", f"198.18.0.{n}", "ok", run_id=1, detail={"step": n})
    yield audit
    store.close()


def lines(audit):
    return audit.path.read_text().splitlines()


def write(audit, rows):
    audit.path.write_text("".join(row + "\n" for row in rows))


def test_intact_log_verifies(log):
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 5


def test_edited_byte_is_detected(log):
    rows = lines(log)
    rows[2] = rows[2].replace("198.18.0.2", "198.18.0.9")
    write(log, rows)
    verdict = log.verify()
    assert (verdict.ok, verdict.first_bad) == (False, 3)
    assert verdict.reason.startswith("edited")


def test_deleted_entry_is_detected(log):
    rows = lines(log)
    del rows[1]
    write(log, rows)
    verdict = log.verify()
    assert (verdict.first_bad, verdict.reason.split()[0]) == (2, "deleted")


def test_swapped_entries_are_detected(log):
    rows = lines(log)
    rows[1], rows[2] = rows[2], rows[1]
    write(log, rows)
    verdict = log.verify()
    assert not verdict.ok and verdict.reason.split()[0] in ("reordered", "deleted")
    assert verdict.first_bad == 2


def test_truncated_tail_is_detected(log):
    write(log, lines(log)[:3])
    verdict = log.verify()
    assert (verdict.ok, verdict.first_bad) == (False, 4)
    assert verdict.reason.startswith("truncated")


def test_wrong_key_is_detected(log):
    other = AuditLog(log.path, bytes(32), log.store, "mallory")
    verdict = other.verify()
    assert not verdict.ok and verdict.reason.startswith("wrong key")


def test_resigned_with_wrong_key_is_detected(log):
    forger = AuditLog(log.path.with_name("forged.jsonl"), bytes(32), log.store, "mallory")
    rows = lines(log)
    entry = json.loads(rows[4])
    entry["outcome"] = "failed"
    forger_entry = {k: v for k, v in entry.items() if k != "hmac"}
    from inventory.audit import _sign

    forger_entry["hmac"] = _sign(forger.key, forger_entry)
    rows[4] = json.dumps(forger_entry, sort_keys=True)
    write(log, rows)
    verdict = log.verify()
    assert (verdict.ok, verdict.first_bad) == (False, 5)


def test_entries_hold_no_secret(log):
    from agent.core.secret import Secret

    log.append("secrets.set", "198.18.0.1", "ok", detail={"password": Secret("Canary-zz-91")})
    assert "Canary-zz-91" not in log.path.read_text()


def test_a_batch_is_one_chain_and_the_head_names_its_last_line(log):
    with log.batch():
        log.append("rotate.escrow", "198.18.0.7", "ok")
        with log.batch():  # nested blocks join the outer one
            log.append("rotate.change", "198.18.0.7", "ok")
        # Lines are written, the head still names the last durable one until the end.
        assert log.store.db.execute("SELECT seq FROM audit_head").fetchone()["seq"] == 5
    assert log.verify().ok and log.verify().entries == 7
    assert [e["seq"] for e in log.entries()][-2:] == [6, 7]


def test_a_failing_batch_still_leaves_the_head_matching_the_file(log):
    with pytest.raises(RuntimeError), log.batch():
        log.append("rotate.escrow", "198.18.0.8", "ok")
        raise RuntimeError("the caller failed after one append")
    verdict = log.verify()
    assert verdict.ok and verdict.entries == 6
    # Truncation is still told apart from an intact log.
    write(log, lines(log)[:-1])
    assert log.verify().reason.startswith("truncated")
