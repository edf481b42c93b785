"""The rotation contract with the vault backend: the conformance suite and the fault matrix
run unchanged against a real OpenBao dev server (their Harness swapped for one whose
secret store is the vault), plus what only a vault has: check-and-set between two jump
hosts, a read-only token at escrow and at promotion, and a SIGKILL after escrow through
the keyturn command (with the keyring backend set to fail: nothing may touch it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tests.test_rotation_conformance as conformance
import tests.test_rotation_faults as faults
from agent.core.scope import ScopeGuard
from agent.core.secret import Secret
from agent.core.secret_store import SecretStoreError
from rotation.hostkeys import HostKeyPins
from rotation.lifecycle import CRASH_ENV
from tests.rotation_helpers import OLD, SIM_PLATFORMS, Harness, login_works, pool
from tests.test_rotation_cli import Site
from tests.vault_fixtures import bao, vault_store

__all__ = ["bao", "pool"]

# The store under test is the vault; every driver already runs the same suites on the keyring
# (test_rotation_conformance/faults). One platform per session shape keeps this module's
# share of the suite small: Cisco (enable, config mode), Junos (candidate + commit),
# Linux (hidden prompts).
VAULT_PLATFORMS = [p for p in ("cisco_ios", "juniper_junos", "linux") if p in SIM_PLATFORMS]


class VaultHarness(Harness):
    """The rotation tests' Harness with the client's secrets in the vault."""

    server = None  # set by the fixture

    def __init__(self, tmp_path: Path, client: str = "test", scope: str = "127.0.0.0/8"):
        self.secrets = vault_store(self.server)
        self.pins = HostKeyPins(tmp_path / "known_hosts")
        self.scope = ScopeGuard([scope], [])
        self.events = []
        self.hooks = {}


@pytest.fixture
def vault_harness(bao, monkeypatch):
    monkeypatch.setattr(VaultHarness, "server", bao)
    for module in (conformance, faults):
        monkeypatch.setattr(module, "Harness", VaultHarness)
    return VaultHarness


# -- the shared suites, on the vault ----------------------------------------------------------
@pytest.mark.parametrize("platform", VAULT_PLATFORMS)
def test_conformance_on_vault(pool, vault_harness, tmp_path, platform):
    conformance.test_platform_rotates_end_to_end(pool, None, tmp_path, platform)


@pytest.mark.parametrize("platform", VAULT_PLATFORMS)
def test_dry_run_on_vault(pool, vault_harness, tmp_path, platform):
    conformance.test_dry_run_changes_nothing(pool, None, tmp_path, platform)


def test_admin_and_enable_on_vault(pool, vault_harness, tmp_path):
    conformance.test_admin_and_enable_on_one_device_both_rotate(pool, None, tmp_path)


def test_parallel_devices_on_vault(pool, vault_harness, tmp_path):
    conformance.test_parallel_devices_rotate_independently(pool, None, tmp_path)


def test_second_rotation_on_vault(pool, vault_harness, tmp_path):
    conformance.test_second_rotation_uses_the_pin_and_the_new_password(pool, None, tmp_path)


def test_enable_secret_on_vault(pool, vault_harness, tmp_path):
    conformance.test_enable_secret_rotates_through_the_login_account(pool, None, tmp_path)


FAULTS = [
    faults.test_device_rejects_the_new_password,
    faults.test_connection_drops_right_after_the_change,
    faults.test_save_fails,
    faults.test_verify_login_fails_then_rolled_back,
]


@pytest.mark.parametrize("platform", VAULT_PLATFORMS)
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.__name__.removeprefix("test_"))
def test_fault_matrix_on_vault(pool, vault_harness, tmp_path, fault, platform):
    fault(pool, None, tmp_path, platform)


@pytest.mark.parametrize("point", ["escrow", "change", "verify"])
@pytest.mark.parametrize("platform", VAULT_PLATFORMS)
def test_killed_in_process_on_vault(pool, vault_harness, tmp_path, platform, point):
    faults.test_killed_mid_rotation_then_next_run_reconciles(pool, None, tmp_path, platform, point)


@pytest.mark.parametrize(
    "case",
    [
        faults.test_verify_and_revert_unconfirmed_keeps_both_candidates,
        faults.test_changed_host_key_refuses_the_device,
        faults.test_unrecordable_audit_before_the_change_stops_the_rotation,
    ],
    ids=lambda f: f.__name__.removeprefix("test_"),
)
def test_faults_on_vault(pool, vault_harness, tmp_path, case):
    case(pool, None, tmp_path)


# -- what only the vault has -----------------------------------------------------------------
def read_only(h: VaultHarness, bao) -> None:
    """The store's token loses its write rights (a policy change, a wrong AppRole)."""
    h.secrets.refresh()
    h.secrets.client.token = bao.token("keyturn-read-only")


@pytest.mark.parametrize("platform", VAULT_PLATFORMS)
def test_escrow_refused_by_the_vault_before_the_device_is_touched(
    pool, vault_harness, bao, tmp_path, platform
):
    device = pool.take(platform)
    h = VaultHarness(tmp_path)
    h.seed(device)
    read_only(h, bao)
    [result] = h.rotate(device.target())
    assert result.status == "failed" and "escrow failed" in result.error
    assert "permission denied" in result.error
    assert "change" not in [s for s, _ in h.steps()]
    assert device.saved_password_is(OLD)
    assert login_works(device, OLD)


def test_vault_refuses_promotion_then_next_run_promotes(pool, vault_harness, bao, tmp_path):
    device = pool.take("cisco_ios")
    h = VaultHarness(tmp_path)
    h.seed(device)
    writer = h.secrets.client.token
    h.hooks[("save", "ok")] = lambda: read_only(h, bao)
    [result] = h.rotate(device.target())
    assert result.status == "needs_attention" and "pending" in result.error
    h.secrets.client.token = writer
    pending = h.stored(device, "pending")
    assert pending and login_works(device, pending) and not login_works(device, OLD)
    [again] = h.rotate(device.target())
    assert ("reconcile", "promoted") in h.steps()
    assert again.status == "rotated"
    assert h.stored(device, "previous") == pending
    assert login_works(device, h.stored(device))


def test_two_jump_hosts_cannot_overwrite_each_other(bao):
    """Two stores of one client (two jump hosts) read the same credential; the first escrow
    wins, the second fails its check-and-set and writes nothing; KV history keeps every
    version the first host wrote."""
    first = vault_store(bao)
    client = first.path.rsplit("/", 1)[-1]
    second = vault_store(bao, client=client)
    first.put("198.18.0.9", "admin", Secret(OLD), "current", platform="cisco_ios")
    assert second.get("198.18.0.9", "admin") == Secret(OLD)
    first.put("198.18.0.9", "admin", Secret("First-Host-Pending-1"), "pending")
    with pytest.raises(SecretStoreError, match="check-and-set"):
        second.put("198.18.0.9", "admin", Secret("Second-Host-Pending-2"), "pending")
    first.promote("198.18.0.9", "admin")
    second.refresh()
    assert second.get("198.18.0.9", "admin") == Secret("First-Host-Pending-1")
    assert second.get("198.18.0.9", "admin", "previous") == Secret(OLD)
    path = f"keyturn/{client}/credentials/admin@198.18.0.9"
    meta = bao.client.secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")
    assert meta["data"]["current_version"] == 3  # seed, escrow, promotion
    first_version = bao.client.secrets.kv.v2.read_secret_version(
        path=path, version=1, mount_point="secret", raise_on_deleted_version=True
    )
    assert first_version["data"]["data"]["current"] == OLD


@pytest.mark.parametrize("point", ["escrow", "change"])
def test_killed_after_escrow_with_the_vault_reconciles(pool, bao, cli_env, tmp_path, point):
    """The keyturn command, killed like SIGKILL: the pending password is in the vault, the
    next run reconciles and finishes; the keyring backend is `fail` throughout."""
    device = pool.take("cisco_ios")
    env = vault_env(bao, cli_env)
    site = Site(tmp_path, env, [device])
    crashed = site.rotate(extra_env={CRASH_ENV: point})
    assert crashed.returncode == 137, crashed.stderr
    pending = site.reveal(device, "pending")
    assert pending and pending != OLD
    assert login_works(device, OLD) or login_works(device, pending)
    out = tmp_path / "next.json"
    again = site.rotate("--json", str(out))
    assert again.returncode == 0, again.stdout + again.stderr
    [result] = json.loads(out.read_text())["results"]
    assert result["status"] == "rotated"
    audit = (tmp_path / "store" / "client.audit.jsonl").read_text()
    expected = "current_works" if point == "escrow" else "promoted"
    assert f'"outcome": "{expected}"' in audit
    current = site.reveal(device)
    assert site.reveal(device, "pending") is None and login_works(device, current)
    assert OLD not in audit and current not in audit


def vault_env(bao, cli_env: dict[str, str]) -> dict[str, str]:
    return {
        **cli_env,
        # Anything that opened the keyring now would fail: the vault is the only store.
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "KEYTURN_SECRETS_BACKEND": "vault",
        "KEYTURN_SECRETS_ADDRESS": bao.address,
        "VAULT_TOKEN": bao.token(),
    }
