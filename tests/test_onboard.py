"""keyturn onboard without the lab: what a non-interactive run refuses within seconds, and
that a failed stage never hides the others. Runs inside an empty network namespace
(``unshare --net``: loopback only), so no packet can leave even though a scope is set."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import KEYTURN

SITE = """client = "acme"
scope = ["198.18.0.0/30"]
[discover]
nmap = false
[report]
formats = ["json", "md"]
out_dir = "{out}"
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "acme.toml"
    path.write_text(SITE.format(out=tmp_path / "reports"))
    return path


def onboard(env: dict, site: Path, *args: str, timeout: float = 120):
    started = time.monotonic()
    result = subprocess.run(
        ["unshare", "--net", KEYTURN, "--config", str(site), *args],
        capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return result, time.monotonic() - started


def test_unapproved_rotation_is_refused_before_anything_runs(cli_env, site):
    result, seconds = onboard(cli_env, site, "onboard", "--rotate")
    assert result.returncode == 2 and seconds < 10
    assert "rotation needs approval" in result.stderr and "--yes" in result.stderr
    assert not Path(cli_env["KEYTURN_STORE"]).exists()  # nothing scanned, nothing recorded
    enabled = site.read_text() + "[rotation]\nenabled = true\n"
    site.write_text(enabled)
    result, _seconds = onboard(cli_env, site, "--non-interactive", "onboard")
    assert result.returncode == 2 and "rotation needs approval" in result.stderr


def test_a_locked_keyring_is_an_error_within_seconds_not_a_prompt(cli_env, site):
    env = dict(cli_env)
    del env["KEYRING_CRYPTFILE_PASSWORD"]
    result, seconds = onboard(env, site, "onboard")
    assert seconds < 10
    assert result.returncode == 2  # a setting to fix (issue 13 item 6), no longer exit 3
    assert result.stderr.strip() == (
        "keyturn: error: the encrypted keyring is locked and nobody is at a terminal to unlock "
        "it: set KEYRING_CRYPTFILE_PASSWORD, or KEYTURN_KEYRING_PASSWORD_FILE=a root-only (0600) "
        "file holding the password; see docs/jump-host.md"
    )


def test_a_missing_directory_password_is_an_error_within_seconds(cli_env, site):
    site.write_text(site.read_text() + '[ad]\nserver = "127.0.0.1"\nuser = "audit@corp"\n')
    result, seconds = onboard(cli_env, site, "onboard")
    assert result.returncode == 2 and seconds < 10
    assert "no bind password for the directory audit (audit@corp@127.0.0.1)" in result.stderr
    assert "keyturn secrets" in result.stderr


def test_a_failed_stage_does_not_hide_the_others(cli_env, site, tmp_path):
    # The directory audit cannot reach a DC (nothing listens in this namespace).
    site.write_text(
        site.read_text()
        + '[ad]\nserver = "127.0.0.1:1"\nuser = "audit@corp"\npassword_env = "AD_PW"\n'
        + 'transport = "ldap"\n'
    )
    env = dict(cli_env, AD_PW="not-a-real-password")
    summary_file = tmp_path / "summary.json"
    log_file = tmp_path / "keyturn.jsonl"
    result, seconds = onboard(
        env, site, "--log-file", str(log_file), "onboard", "--json", str(summary_file)
    )
    assert seconds < 60
    assert result.returncode == 3, result.stderr
    summary = json.loads(summary_file.read_text())
    assert summary["exit_code"] == 3
    assert summary["stages"]["ad"] == "failed"
    assert summary["stages"]["rotate"] == "skipped"
    assert summary["stages"]["checklist"] == "ok" and summary["stages"]["report"] == "ok"
    assert summary["checklist"]["open"] >= 4  # the four undiscoverable kinds at least
    assert summary["report"] and all(Path(p).exists() for p in summary["report"])
    assert "Onboarding summary" in result.stdout and "stage ad" in result.stdout
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    summaries = [e for e in events if e.get("event") == "run_summary"]
    onboard_line = next(e for e in summaries if e["command"] == "onboard")
    assert onboard_line["run_id"] == summary["run_id"]
    assert onboard_line["summary"]["stages"] == summary["stages"]
    assert "not-a-real-password" not in log_file.read_text() + result.stdout + result.stderr
    shown = subprocess.run([KEYTURN, "--config", str(site), "audit", "show"], env=env,
                           capture_output=True, text=True, timeout=60).stdout  # fmt: skip
    assert "onboard.start acme: started" in shown and "onboard.finish acme:" in shown


# -- orchestration logic (in-process; the network stages replaced, nothing is sent) -----------
def test_a_crashing_stage_is_recorded_failed_and_the_rest_still_run(
    keyring_env, tmp_path, monkeypatch
):
    from agent import onboard as domain
    from agent.context import AppContext
    from agent.onboard import StageOutcome
    from agent.ops import stages

    monkeypatch.setattr(stages, "stage_discover", lambda ctx: StageOutcome("discover", "ok"))

    def crash(ctx):
        raise RuntimeError("directory exploded")

    monkeypatch.setattr(stages, "stage_ad", crash)
    site = tmp_path / "acme.toml"
    site.write_text(SITE.format(out=tmp_path / "reports"))
    app = AppContext(config_path=str(site), store_path=str(tmp_path / "acme.db"),
                     non_interactive=True)  # fmt: skip
    events = []
    try:
        result = domain.run(app, progress=lambda stage, event, _p: events.append((stage, event)))
        assert result.exit_code == 3
        assert result.stage("ad").status == "failed"
        assert result.stage("ad").detail == "RuntimeError: directory exploded"
        assert [result.stage(n).status for n in ("checklist", "report")] == ["ok", "ok"]
        assert events[0] == ("discover", "start") and events[-1] == ("report", "done")
        assert app.store.get_run(result.run_id).status == "partial"
        assert app.store.get_run(result.run_id).summary["stages"]["ad"] == "failed"
    finally:
        app.close()


@pytest.mark.parametrize(
    ("statuses", "findings", "expected"),
    [
        (["ok", "ok", "skipped", "ok", "skipped", "skipped", "ok", "ok"], {}, 0),
        (["ok", "ok", "skipped", "skipped", "skipped", "skipped", "ok", "ok"], {"high": 2}, 1),
        (["partial", "ok", "skipped", "ok", "skipped", "ok", "ok", "ok"], {}, 1),
        (["ok", "ok", "skipped", "findings", "skipped", "ok", "ok", "ok"], {}, 1),
        (["ok", "ok", "skipped", "ok", "skipped", "refused", "ok", "ok"], {}, 1),
        (["ok", "ok", "skipped", "failed", "skipped", "ok", "ok", "ok"], {"high": 2}, 3),
        (["failed", "ok", "skipped", "ok", "skipped", "ok", "ok", "ok"], {}, 3),
        (["ok", "partial", "skipped", "ok", "skipped", "ok", "ok", "ok"], {}, 1),
        (["ok", "ok", "findings", "ok", "skipped", "ok", "ok", "ok"], {}, 1),
        (["ok", "ok", "partial", "ok", "skipped", "ok", "ok", "ok"], {}, 1),
    ],
)
def test_exit_code(statuses, findings, expected):
    from agent.onboard import STAGES, StageOutcome, exit_code

    outcomes = [StageOutcome(name, status) for name, status in zip(STAGES, statuses, strict=True)]
    assert exit_code(outcomes, {"findings": findings, "rotations": {}}) == expected
