"""Issue 13 item 4: tamper evidence that does not heal. Each case of the issue, through the
real CLI: a damaged, truncated or emptied log (or an emptied store) refuses every later write
in one line naming `keyturn audit verify` (exit 3), so no logged command can make `audit
verify` say intact again; `audit seal-damage` keeps the damaged tail as 0600 evidence and
records the break in a signed entry that `verify` names from then on."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
from pathlib import Path

import pytest

from inventory.audit import AuditLog, AuditLogDamaged
from inventory.store import Store
from tests.conftest import KEYTURN

KEY = bytes(range(32))


class Site:
    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.env = env
        self.store = Path(env["KEYTURN_STORE"])
        self.log = self.store.with_name(self.store.stem + ".audit.jsonl")
        # Eight logged checklist additions, made in-process as `checklist add` makes them.
        from agent.context import AppContext
        from inventory import checklist

        app = AppContext(store_path=str(self.store))
        with app.lock("checklist add"):
            for n in range(8):
                item = checklist.add(app.store, "web_portal", f"portal {n}", "")
                app.audit.append("checklist.add", f"checklist item {item.id}", "added",
                                 detail={"target": item.target})  # fmt: skip
        app.close()

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [KEYTURN, *args], env=self.env, capture_output=True, text=True, timeout=60
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return result

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def assert_refused(self) -> None:
        """A logged command is refused in one line, and changes nothing."""
        before = self.ok("checklist", "--json", "-").stdout
        result = self.run("checklist", "mark", "2", "changed")
        assert result.returncode == 3, result.stdout + result.stderr
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("keyturn: error: the audit log ")
        assert "`keyturn audit verify`" in line and "seal-damage" in line
        assert "unexpected" not in line
        assert self.ok("checklist", "--json", "-").stdout == before

    def verdict(self) -> tuple[int, str]:
        result = self.run("audit", "verify")
        return result.returncode, result.stdout.strip()


@pytest.fixture
def site(tmp_path, cli_env) -> Site:
    return Site(tmp_path, cli_env)


def test_cut_lines_stay_detected_after_the_next_command(site):
    site.log.write_text("".join(line + "\n" for line in site.lines()[:-3]))
    assert site.verdict() == (3, "audit log damaged at entry 6: truncated (the store expects "
                                 "8 entries, the file has 5)")  # fmt: skip
    site.assert_refused()
    code, text = site.verdict()
    assert code == 3 and "truncated" in text  # never "intact" again by itself


@pytest.mark.parametrize("how", ["emptied", "deleted"])
def test_an_emptied_log_is_detected_against_the_store(site, how):
    if how == "emptied":
        site.log.write_text("")
    else:
        site.log.unlink()
    site.assert_refused()
    assert site.verdict() == (3, "audit log damaged at entry 1: truncated (the store expects "
                                 "8 entries, the file has 0)")  # fmt: skip


def test_an_emptied_store_is_detected_against_the_log(site):
    for suffix in ("", "-wal", "-shm"):
        Path(f"{site.store}{suffix}").unlink(missing_ok=True)
    site.assert_refused()
    code, text = site.verdict()
    assert code == 3 and "no head hash" in text


def test_a_half_written_last_line_is_a_clear_error(site):
    with site.log.open("ab") as handle:
        handle.write(b'{"seq": 9, "time": "2026-')  # a write cut off by a power loss
    site.assert_refused()
    assert site.verdict() == (3, "audit log damaged at entry 9: malformed (the last line is "
                                 "cut off: a write did not finish)")  # fmt: skip
    shown = site.ok("audit", "show").stdout.splitlines()
    assert len(shown) == 8  # the readable entries are still listed


def test_an_edited_entry_stays_detected(site):
    rows = site.lines()
    rows[3] = rows[3].replace("portal 3", "portal X")
    site.log.write_text("".join(row + "\n" for row in rows))
    site.assert_refused()
    assert site.verdict()[1].startswith("audit log damaged at entry 4: edited")


def test_seal_damage_keeps_the_tail_as_evidence_and_records_the_break(site):
    rows = site.lines()
    rows[5] = rows[5].replace("portal 5", "portal X")
    damaged = "".join(row + "\n" for row in rows)
    site.log.write_text(damaged)
    sealed = site.ok("audit", "seal-damage").stdout
    assert "kept 5 entries, moved 3 line(s) to" in sealed and "entry 6" in sealed
    [evidence] = site.log.parent.glob("client.audit.damaged-*.jsonl")
    assert stat.S_IMODE(evidence.stat().st_mode) == 0o600
    assert evidence.read_text() == "".join(row + "\n" for row in rows[5:])  # byte for byte
    assert damaged.startswith(site.log.read_text().rsplit("\n", 2)[0])  # the good part kept
    seal = json.loads(site.lines()[-1])
    assert seal["action"] == "audit.seal-damage" and seal["seq"] == 6
    assert seal["detail"]["evidence_sha256"] == hashlib.sha256(evidence.read_bytes()).hexdigest()
    assert seal["detail"]["head_expected"]["seq"] == 8
    assert site.verdict() == (0, "audit log intact: 6 entries; 1 sealed break(s) recorded at "
                                 "entry 6")  # fmt: skip
    site.ok("checklist", "mark", "2", "changed")  # the log takes entries again
    code, text = site.verdict()
    assert code == 0 and text.startswith("audit log intact: 7 entries; 1 sealed break")
    assert site.ok("audit", "seal-damage").stdout.strip() == "audit log intact: nothing to seal"


def test_seal_damage_after_truncation_and_after_an_emptied_store(site):
    site.log.write_text("".join(line + "\n" for line in site.lines()[:-3]))
    assert "no line to move" in site.ok("audit", "seal-damage").stdout
    assert site.verdict()[0] == 0
    Path(site.store).unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{site.store}{suffix}").unlink(missing_ok=True)
    assert site.verdict()[0] == 3
    site.ok("audit", "seal-damage")
    code, text = site.verdict()
    assert code == 0 and "2 sealed break(s) recorded at entry 6, 7" in text


def test_the_file_ahead_of_the_head_after_a_crash_is_not_damage(tmp_path):
    """fsync of the lines, then a crash before the head update: the head names an earlier
    line of the same chain, which every later write catches up."""
    store = Store(tmp_path / "c.db")
    log = AuditLog(tmp_path / "c.audit.jsonl", KEY, store, "alice")
    for n in range(3):
        log.append("x", str(n), "ok")
    head = store.db.execute("SELECT seq, hash FROM audit_head").fetchone()
    log.append("x", "3", "ok")
    with store.transaction() as db:
        db.execute("UPDATE audit_head SET seq = ?, hash = ?", (head["seq"], head["hash"]))
    assert log.verify().ok
    log.append("x", "4", "ok")
    assert log.verify().ok and log.verify().entries == 5
    store.close()


def test_a_write_in_place_between_two_appends_is_caught(tmp_path):
    """The check before each write is not fooled by a file of the same size."""
    store = Store(tmp_path / "c.db")
    log = AuditLog(tmp_path / "c.audit.jsonl", KEY, store, "alice")
    for n in range(3):
        log.append("x", f"host-{n}", "ok")
    text = log.path.read_text()
    log.path.write_text(text.replace("host-1", "host-9"))
    with pytest.raises(AuditLogDamaged, match="entry 2: edited"):
        log.append("x", "host-3", "ok")
    assert log.path.read_text() == text.replace("host-1", "host-9")  # nothing appended
    store.close()


def test_verify_of_an_empty_log_creates_no_keyring_entry(site, tmp_path, cli_env):
    env = dict(cli_env, XDG_DATA_HOME=str(tmp_path / "fresh-data"),
               KEYTURN_STORE=str(tmp_path / "fresh" / "c.db"))  # fmt: skip
    result = subprocess.run([KEYTURN, "audit", "verify"], env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert (result.returncode, result.stdout.strip()) == (0, "audit log intact: 0 entries")
    assert not list((tmp_path / "fresh-data").rglob("*keyring*"))
