"""`keyturn review --import-config` end to end on recorded configurations: the offline path
finds, stores, diffs and exports; bad input is one line and exit 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import KEYTURN

DATA = Path(__file__).parent / "data" / "review"


def keyturn(env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KEYTURN, "review", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_import_config_reviews_offline_and_diffs_the_next_run(cli_env, tmp_path):
    sample = tmp_path / "fw.conf"
    sample.write_text((DATA / "fortinet_sample.conf").read_text())
    first = keyturn(cli_env, tmp_path, "--import-config", str(sample), "--platform", "fortinet",
                    "--json", str(tmp_path / "1.json"), "--out", str(tmp_path / "out"))  # fmt: skip
    assert first.returncode == 1, first.stderr  # findings
    document = json.loads((tmp_path / "1.json").read_text())
    (device,) = document["devices"]
    found = {f["id"]: f for f in device["findings"]}
    assert found["internet_exposed_service"]["lines"]
    assert {"wan_management", "cleartext_management", "vpn_weak_crypto"} <= set(found)
    assert "exposed: " in first.stdout and "internet_exposed_service" in first.stdout
    assert (tmp_path / "out" / "fixes-fw.conf.txt").read_text().count("NOT APPLIED") == 1
    assert (tmp_path / "out" / "rules-fw.conf.csv").exists()

    sample.write_text(sample.read_text().replace("set action accept", "set action deny", 1))
    second = keyturn(cli_env, tmp_path, "--import-config", str(sample), "--platform", "fortinet",
                     "--json", "-", "--out", str(tmp_path / "out"))  # fmt: skip
    diff = json.loads(second.stdout)["diff"]
    assert diff["previous_run_id"] == document["run_id"]
    assert [c["fields"] for c in diff["changed"]] == [["verdict"]]


def test_bad_input_is_one_line_and_exit_2(cli_env, tmp_path):
    cases = [
        ("--import-config", str(DATA / "fortinet_sample.conf"), "--platform", "nosuch"),
        ("--import-config", str(tmp_path / "missing.conf"), "--platform", "fortinet"),
        ("--import-config", str(DATA / "fortinet_sample.conf")),
        ("--platform", "fortinet"),
        ("--targets", "t.toml", "--import-config", "x"),
    ]
    for args in cases:
        result = keyturn(cli_env, tmp_path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
