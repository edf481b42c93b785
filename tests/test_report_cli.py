"""``keyturn report`` as a subprocess: formats, paths, exit codes, the audit log check, and no
secret anywhere: canary passwords planted in the keyring and the audit log must not appear in
any report, CSV, JSON, log line or store row."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from agent.core.secret import Secret
from agent.core.secret_store import SecretStore
from inventory.audit import AuditLog
from inventory.store import Store
from tests.conftest import KEYTURN
from tests.report_fixtures import populate

CANARIES = ("Canary-Current-7f3a91", "Canary-Previous-c2d8e4", "Canary-Audit-55b1f0")


@pytest.fixture
def site(cli_env, tmp_path):
    """A populated store, planted keyring canaries and a real signed audit log."""
    store_path = Path(cli_env["KEYTURN_STORE"])
    cli_env["KEYTURN_CLIENT"] = "acme"  # the client populate() records its runs for
    secrets = SecretStore("acme")
    secrets.put("198.18.0.1", "admin", Secret(CANARIES[0]), platform="cisco_ios")
    secrets.put("198.18.0.2", "admin", Secret(CANARIES[1]), "previous", platform="fortinet")
    with Store(store_path) as store:
        runs = populate(store)
        audit = AuditLog(
            store_path.with_name(store_path.stem + ".audit.jsonl"),
            secrets.audit_key(),
            store,
            "alice",
        )
        audit.append(
            "rotate.change",
            "198.18.0.1",
            "ok",
            run_id=runs["rotate"],
            detail={"user": "admin", "new": Secret(CANARIES[2])},
        )
        audit.append("rotate.verify", "198.18.0.1", "ok", run_id=runs["rotate"])
    return cli_env, store_path, runs


def keyturn(env, *args):
    return subprocess.run(
        [KEYTURN, *args], capture_output=True, text=True, env=env, timeout=120, cwd=env["HOME"]
    )


def test_every_format_written_and_no_secret_anywhere(site, tmp_path):
    env, store_path, _ = site
    env = env | {"HOME": str(tmp_path)}
    out, log = tmp_path / "out", tmp_path / "keyturn.log"
    result = keyturn(
        env,
        "-vv",
        "--log-file",
        str(log),
        "report",
        "--format",
        "html",
        "--format",
        "csv",
        "--format",
        "json",
        "--format",
        "md",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert {p.suffix for p in paths} == {".html", ".csv", ".json", ".md"}
    assert len(paths) == 3 + 9
    assert all(p.is_file() and p.parent.is_relative_to(out) for p in paths)
    document = json.loads(next(p for p in paths if p.suffix == ".json").read_text())
    assert document["schema"] == "keyturn.report/1"
    assert document["audit_log"]["ok"] and document["audit_log"]["entries"] == 2
    assert document["generated_by"] == "tester"

    # Every byte keyturn wrote or keeps: reports, the log, the audit log, every store row.
    haystack = [p.read_bytes() for p in out.rglob("*") if p.is_file()]
    haystack += [log.read_bytes() if log.exists() else b"", result.stdout.encode()]
    haystack += [result.stderr.encode()]
    haystack.append(store_path.with_name(store_path.stem + ".audit.jsonl").read_bytes())
    with sqlite3.connect(store_path) as db:
        haystack.append("\n".join(db.iterdump()).encode())
    for canary in CANARIES:
        assert not any(canary.encode() in blob for blob in haystack), canary
    # ...and the canaries really are there to be found, so the check above can fail.
    assert SecretStore("acme").get("198.18.0.1", "admin").reveal() == CANARIES[0]


def test_report_writes_are_audited_and_log_stays_intact(site, tmp_path):
    env, _, _ = site
    env = env | {"HOME": str(tmp_path)}
    for _ in range(2):
        assert keyturn(env, "report", "--format", "md", "--out", str(tmp_path)).returncode == 0
    shown = keyturn(env, "audit", "show")
    assert shown.stdout.count("report.write acme: ok") == 2
    assert keyturn(env, "audit", "verify").returncode == 0


def test_formats_and_folder_default_from_config(site, tmp_path):
    env, _, _ = site
    config = tmp_path / "site.toml"
    config.write_text(f'[report]\nformats = ["json", "md"]\nout_dir = "{tmp_path / "cfg-out"}"\n')
    result = keyturn(env | {"HOME": str(tmp_path)}, "--config", str(config), "report")
    assert result.returncode == 0, result.stderr
    assert sorted(Path(p).suffix for p in result.stdout.split()) == [".json", ".md"]
    assert all(Path(p).parent == tmp_path / "cfg-out" for p in result.stdout.split())


def test_folder_without_out_or_config_is_the_onboard_default(site, tmp_path):
    env, _, _ = site
    result = keyturn(env | {"HOME": str(tmp_path)}, "report", "--format", "md")
    assert result.returncode == 0, result.stderr
    (path,) = result.stdout.split()
    assert (tmp_path / path).parent == tmp_path / "keyturn-report-acme"


def test_run_pins_the_state(site, tmp_path):
    env, _, runs = site
    result = keyturn(
        env | {"HOME": str(tmp_path)},
        "report",
        "--run",
        str(runs["ad1"]),
        "--format",
        "json",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(Path(result.stdout.strip()).read_text())
    assert document["runs"]["as_of"] == runs["ad1"]
    assert "198.18.0.20" in [h["ip"] for h in document["hosts"]]
    assert document["rotations"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run", "1", "--latest"], "mutually exclusive"),
        (["--run", "999"], "--run 999: no such run"),
        (["--diff-from", "999"], "--diff-from 999: no such run"),
    ],
)
def test_bad_arguments_exit_2_in_one_line(site, tmp_path, args, message):
    env, _, _ = site
    result = keyturn(env | {"HOME": str(tmp_path)}, "report", *args, "--out", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("keyturn-report-*"))


def test_tampered_audit_log_exits_1_and_says_so_in_the_report(site, tmp_path):
    env, store_path, _ = site
    log = store_path.with_name(store_path.stem + ".audit.jsonl")
    first, second = log.read_text().splitlines()
    log.write_text(first.replace("198.18.0.1", "198.18.0.9") + "\n" + second + "\n")
    result = keyturn(
        env | {"HOME": str(tmp_path)}, "report", "--format", "html", "--out", str(tmp_path)
    )
    assert result.returncode == 1
    assert "audit log FAILED verification" in result.stderr
    html = Path(result.stdout.strip()).read_text()
    assert "Audit log verification FAILED: audit log damaged at entry 1: edited" in html
