"""The MSP deployment on the simulated client site: the lab's keyring credentials migrated
into an OpenBao dev server, then `onboard --rotate --yes` with the inventory in PostgreSQL
and the secrets in the vault (the keyring backend set to fail: nothing may touch it).

OpenBao runs inside the lab's technician namespace (its loopback is not the root
namespace's), PostgreSQL listens on a unix socket both namespaces see. At the end the
rotated passwords go back into the session keyring (export from the vault, import), so the
lab tests that run after this one log in as before.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path

import pytest

from inventory.pg import PgStore
from tests.conftest import KEYTURN
from tests.pg_fixtures import pg
from tests.test_onboard_lab import ROTATABLE, onboard
from tests.vault_fixtures import BAO

pytestmark = pytest.mark.lab
__all__ = ["pg"]

PORT = 18200


def keyturn(lab, env: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*lab.exec_prefix(), KEYTURN, "--non-interactive", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class LabBao:
    """`bao server -dev` inside the technician namespace, on its loopback."""

    def __init__(self, lab, root: Path) -> None:
        self.lab = lab
        self.token = secrets.token_hex(16)
        self.address = f"http://127.0.0.1:{PORT}"
        (root / "home").mkdir()
        self.log = (root / "bao.log").open("wb")
        self.proc = subprocess.Popen(
            [
                *lab.exec_prefix(),
                BAO,
                "server",
                "-dev",
                f"-dev-root-token-id={self.token}",
                f"-dev-listen-address=127.0.0.1:{PORT}",
                "-dev-no-store-token",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={"HOME": str(root / "home"), "PATH": "/usr/bin:/bin"},
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = subprocess.run(
                [*lab.exec_prefix(), BAO, "status", f"-address={self.address}"], capture_output=True
            )
            if status.returncode == 0:
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("bao server -dev did not come up in the technician namespace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def test_onboard_on_postgresql_and_vault(lab, lab_cli_env, pg, tmp_path):
    url = pg.new_database()
    bao = LabBao(lab, tmp_path)
    keyring_env = dict(
        lab_cli_env, KEYTURN_STORE=url, KEYTURN_SECRETS_ADDRESS=bao.address, VAULT_TOKEN=bao.token
    )
    vault_env = dict(
        keyring_env,
        KEYTURN_SECRETS_BACKEND="vault",
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        XDG_DATA_HOME=str(tmp_path / "data"),
        KEYTURN_REPORT_OUT_DIR=str(tmp_path / "reports"),
        KEYTURN_REPORT_FORMATS="json",
    )
    try:
        moved = keyturn(lab, keyring_env, "secrets", "migrate", "--to", "vault", timeout=120)
        assert moved.returncode == 0, moved.stderr
        before = {
            line.split()[0]
            for line in keyturn(lab, vault_env, "secrets", "list", timeout=60).stdout.splitlines()
        }
        summary, report = onboard(lab, vault_env, tmp_path, "msp", "--rotate", "--yes")
        expected = {
            "discover": "ok",
            "ad": "findings",
            "rotate": "ok",
            "checklist": "ok",
            "report": "ok",
        }
        assert {stage: summary["stages"][stage] for stage in expected} == expected
        assert "failed" not in summary["stages"].values()
        hosts = lab.manifest["hosts"]
        rotated = summary["rotations"]["rotated"]
        devices = sum(
            1
            for h in hosts
            if h["device_class"] in ROTATABLE
            for c in h["credentials"]
            if c["username"] != "enable" and h["platform"] in _drivers()
        )
        # Issue 14: the Windows hosts' RID-500 accounts (not LAPS-managed files1) and the
        # directory's service accounts rotate in the same onboard.
        windows = sum(1 for h in hosts if h.get("smb") and h["name"] != "files1")
        assert rotated == devices + windows + len(lab.manifest["ad"]["service_accounts"])
        # The inventory is in PostgreSQL, in the client's schema.
        with PgStore(url, lab_client(lab)) as central:
            commands = {run.command for run in central.runs()}
            assert "onboard" in commands or {"discover", "ad", "rotate"} <= commands
            count = central.db.execute(
                "SELECT COUNT(*) FROM rotations WHERE status = 'rotated'"
            ).fetchone()[0]
            assert count == rotated
        # The rotated passwords are in the vault (current new, previous the inherited one).
        listed = keyturn(lab, vault_env, "secrets", "list", timeout=60).stdout
        assert before <= {line.split()[0] for line in listed.splitlines()}
        assert listed.count("previous") >= rotated
        verify = keyturn(lab, vault_env, "verify", "--from-inventory", timeout=300)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert report["summary"]["hosts"] == summary["hosts"]
    finally:
        give_back(lab, vault_env, keyring_env, tmp_path)
        bao.stop()


def give_back(lab, vault_env: dict, keyring_env: dict, tmp_path: Path) -> None:
    """The session keyring gets the rotated passwords (later lab tests log in with them)."""
    exported = tmp_path / "rotated.csv"
    out = keyturn(
        lab, vault_env, "secrets", "export", "--format", "csv", "--out", str(exported), timeout=120
    )
    if out.returncode == 0 and exported.exists():
        keyturn(
            lab,
            dict(keyring_env, KEYTURN_STORE=str(tmp_path / "back.db")),
            "secrets",
            "import",
            str(exported),
            timeout=120,
        )
        exported.unlink()


def lab_client(lab) -> str:
    import tomllib

    return tomllib.loads(Path(lab.site_config_path).read_text())["client"]


def _drivers():
    from rotation.drivers import DRIVERS

    return DRIVERS
