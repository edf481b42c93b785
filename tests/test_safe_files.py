"""Issue 13 item 5: every file keyturn writes is 0600 (folders 0700) whatever the umask, is
never written through a symlink, and never reuses a file another user owns; `secrets export`
refuses an existing target unless --force and then replaces it atomically."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from agent.core import files
from tests.conftest import KEYTURN

NOBODY = 65534


def keyturn(env: dict[str, str], *args: str, umask: int = 0o022) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KEYTURN, *args], env=env, capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: os.umask(umask),
    )  # fmt: skip


@pytest.fixture
def site(tmp_path, cli_env):
    config = tmp_path / "site.toml"
    config.write_text('client = "acme"\nscope = ["127.0.0.0/8"]\n')
    env = cli_env | {
        "KEYTURN_STORE": str(tmp_path / "data" / "deep" / "acme.db"),
        "PW": "Inherited-Pw-2026x",
    }
    base = ["--config", str(config)]
    assert keyturn(env, *base, "secrets", "set", "127.0.0.5", "admin", "--password-env", "PW")\
        .returncode == 0  # fmt: skip
    return env, base


def test_everything_written_at_umask_022_is_private(site, tmp_path):
    env, base = site
    out = tmp_path / "out"
    log_file = out / "logs" / "keyturn.jsonl"
    steps = [
        ["--log-file", str(log_file), "checklist", "add", "--kind", "vpn_access",
         "--target", "VPN"],
        ["checklist", "--json", str(out / "checklist.json")],
        ["report", "--format", "html", "--format", "csv", "--format", "md", "--format", "json",
         "--out", str(out / "report")],
        ["secrets", "export", "--format", "csv", "--out", str(out / "export.csv")],
    ]  # fmt: skip
    for args in steps:
        result = keyturn(env, *base, *args)
        assert result.returncode == 0, result.stderr
    written = [p for root in (tmp_path / "data", out) for p in [root, *root.rglob("*")]]
    assert len([p for p in written if p.is_file()]) >= 12
    for path in written:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
    assert not [p for p in written if p.name.endswith(".tmp")]  # temp names renamed away


@pytest.mark.parametrize(
    "target",
    ["--json", "--log-file", "export --force", "the audit log", "the store"],
)
def test_a_symlink_planted_at_the_target_is_refused_not_followed(site, tmp_path, target):
    env, base = site
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "planted"
    if target == "the audit log":
        link = Path(env["KEYTURN_STORE"]).with_name("acme.audit.jsonl")
        link.unlink()
    if target == "the store":
        link = tmp_path / "elsewhere" / "acme.db"
        link.parent.mkdir()
        env = env | {"KEYTURN_STORE": str(link)}
    link.symlink_to(victim)
    args = {
        "--json": ["checklist", "--json", str(link)],
        "--log-file": ["--log-file", str(link), "checklist"],
        "export --force": ["secrets", "export", "--format", "csv", "--out", str(link), "--force"],
        "the audit log": ["checklist", "add", "--kind", "vpn_access", "--target", "VPN"],
        "the store": ["checklist"],
    }[target]
    result = keyturn(env, *base, *args)
    assert result.returncode == 3, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "symbolic link" in line
    assert victim.read_text() == "precious\n" and link.is_symlink()


@pytest.mark.parametrize("target", ["export --force", "--json", "--log-file"])
def test_a_file_owned_by_another_user_is_never_reused(site, tmp_path, target):
    env, base = site
    planted = tmp_path / "shared" / "planted.txt"
    planted.parent.mkdir(mode=0o777)
    planted.write_text("")
    os.chown(planted, NOBODY, NOBODY)
    planted.chmod(0o666)
    args = {
        "export --force": ["secrets", "export", "--format", "csv", "--out", str(planted),
                           "--force"],
        "--json": ["checklist", "--json", str(planted)],
        "--log-file": ["--log-file", str(planted), "checklist"],
    }[target]  # fmt: skip
    result = keyturn(env, *base, *args)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "owned by nobody" in result.stderr
    assert planted.read_text() == "" and planted.stat().st_uid == NOBODY


def test_export_refuses_an_existing_target_unless_forced_then_replaces_it(site, tmp_path):
    env, base = site
    target = tmp_path / "vault.json"
    target.write_text("old\n")
    target.chmod(0o644)
    reader = target.open()  # someone who opened the old file keeps seeing the old file
    export = [*base, "secrets", "export", "--format", "bitwarden-json", "--out", str(target)]
    refused = keyturn(env, *export)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert target.read_text() == "old\n"
    inode = target.stat().st_ino
    assert keyturn(env, *export, "--force").returncode == 0
    assert target.stat().st_ino != inode and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text())["items"][0]["login"]["password"] == "Inherited-Pw-2026x"
    assert reader.read() == "old\n"
    reader.close()


def test_report_names_are_predictable_so_a_planted_link_is_refused(tmp_path):
    from inventory.store import Store
    from reports.model import build_report
    from reports.render import write_reports
    from tests.report_fixtures import populate

    with Store(tmp_path / "acme.db") as store:
        populate(store)
        report = build_report(store, client="acme", operator="bob")
    stamp = report["generated"].replace("-", "").replace(":", "").replace("+0000", "Z")
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (out / f"keyturn-report-acme-{stamp}.md").symlink_to(victim)
    with pytest.raises(files.UnsafeFileError, match="symbolic link"):
        write_reports(report, ["md"], out)
    assert victim.read_text() == "precious"


def test_kernel_rules(tmp_path):
    """The rules the commands above rely on, one by one."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(files.UnsafeFileError, match="not a regular file"):
        files.open_private(fifo, "a")  # never blocks on a FIFO either
    with pytest.raises(files.FileExistsRefused):
        files.open_private(fifo, "x")
    old = tmp_path / "old.log"
    old.write_text("x")
    old.chmod(0o644)
    files.open_private(old, "a").close()
    assert stat.S_IMODE(old.stat().st_mode) == 0o600  # narrowed when reopened
    made = files.private_dir(tmp_path / "a" / "b")
    assert stat.S_IMODE(made.stat().st_mode) == stat.S_IMODE(made.parent.stat().st_mode) == 0o700
