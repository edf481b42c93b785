"""The fault matrix, on every registered platform (tests/rotation_helpers.PLATFORMS, the
transport-free in-memory driver included): whatever goes wrong, the password that logs in
is in the keyring, nobody is locked out, and the status says what happened."""

from __future__ import annotations

import pytest

from agent.core.secret import Secret
from lab.simulators.platforms import PLATFORMS as PERSONALITIES
from rotation.drivers import driver_for
from rotation.engine import RotationEngine
from tests.rotation_helpers import (
    COMMIT_CONFIRM,
    OLD,
    PLATFORMS,
    Harness,
    login_works,
    pool,
)

__all__ = ["pool"]


def live_password_is_stored(h: Harness, device) -> str:
    """The one password that logs in now, asserted to be retrievable from the store."""
    device.clear_faults()
    stored = {v: h.stored(device, v) for v in ("current", "pending", "previous")}
    working = [v for v, value in stored.items() if value and login_works(device, value)]
    assert working, f"locked out: no stored version logs in ({sorted(stored)})"
    return stored[working[0]]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_device_rejects_the_new_password(pool, keyring_env, tmp_path, platform):
    device = pool.take(platform)
    h = Harness(tmp_path)
    h.seed(device)
    device.set_faults(reject_new_password=True)
    [result] = h.rotate(device.target())
    assert result.status == "failed" and "rejected" in result.error
    assert ("change", "rejected") in h.steps()
    assert h.stored(device) == OLD and h.stored(device, "pending") is None
    assert live_password_is_stored(h, device) == OLD


@pytest.mark.parametrize("platform", PLATFORMS)
def test_connection_drops_right_after_the_change(pool, keyring_env, tmp_path, platform):
    device = pool.take(platform)
    h = Harness(tmp_path)
    h.seed(device)
    device.set_faults(drop_after_change=True)
    [result] = h.rotate(device.target())
    # The change took: keyturn proves the new password with a fresh login and finishes.
    assert ("change", "unknown") in h.steps()
    assert result.status == "rotated", result.error
    assert result.verified and result.saved
    new = h.stored(device)
    assert new != OLD and live_password_is_stored(h, device) == new
    device.reboot()
    assert login_works(device, new)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_save_fails(pool, keyring_env, tmp_path, platform):
    device = pool.take(platform)
    h = Harness(tmp_path)
    h.seed(device)
    device.set_faults(fail_save=True)
    [result] = h.rotate(device.target())
    # A platform with a save step: changed, save failed, put back. Where the change saves
    # itself (commit, `end`, RouterOS, passwd) or its write already fails the change (Junos's
    # commit confirmed), the change fails: the device never took it.
    at_change = getattr(PERSONALITIES.get(platform), "save_fault_at_change", False)
    expected = "rolled_back" if driver_for(platform).needs_save and not at_change else "failed"
    assert result.status == expected, (result.status, result.error)
    assert not result.saved
    assert h.stored(device) == OLD and h.stored(device, "pending") is None
    assert live_password_is_stored(h, device) == OLD
    device.reboot()
    assert login_works(device, OLD)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_verify_login_fails_then_rolled_back(pool, keyring_env, tmp_path, platform):
    device = pool.take(platform)
    h = Harness(tmp_path)
    h.seed(device)
    # The device starts refusing logins right after the change; the fault is lifted once
    # keyturn has sent the revert, so the old password can be proven again.
    h.hooks[("change", "ok")] = lambda: device.set_faults(refuse_login=True)
    h.hooks[("revert", "ok")] = lambda: device.clear_faults()
    [result] = h.rotate(device.target())
    assert ("verify", "failed") in h.steps()
    assert result.status == "rolled_back", result.error
    assert not result.verified
    assert h.stored(device) == OLD and h.stored(device, "pending") is None
    assert live_password_is_stored(h, device) == OLD


class Killed(BaseException):
    """Stands for SIGKILL in-process: nothing after it runs but the ``finally`` blocks (the
    CLI test in test_rotation_cli.py kills a real process on three platforms)."""


@pytest.mark.parametrize("point", ["escrow", "change", "verify"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_killed_mid_rotation_then_next_run_reconciles(pool, keyring_env, tmp_path, platform, point):
    device = pool.take(platform)
    h = Harness(tmp_path)
    h.seed(device)

    def die(step: str) -> None:
        if step == point:
            raise Killed

    with pytest.raises(Killed):
        h.engine(crash=die).rotate([device.target()])
    pending = h.stored(device, "pending")
    assert pending and pending != OLD
    # Whatever the device has now is in the keyring (current or pending): nobody locked out.
    assert login_works(device, OLD) or login_works(device, pending)

    [again] = h.rotate(device.target())
    assert again.status == "rotated", again.error
    expected = "current_works" if point == "escrow" else "promoted"
    assert ("reconcile", expected) in h.steps()
    current = h.stored(device)
    assert h.stored(device, "pending") is None and login_works(device, current)
    device.reboot()
    assert login_works(device, current)


@pytest.mark.parametrize("platform", COMMIT_CONFIRM)
def test_killed_between_commit_and_confirm_the_device_reverts_itself(
    pool, keyring_env, tmp_path, platform
):
    """Commit-confirm: keyturn dies after the commit, before the confirm. Nobody logs in
    to confirm, so the device's own timer brings the old password back (a minute is 3 s
    on this device); the next run's reconcile finds the current password working again,
    drops the pending one and rotates afresh."""
    import time

    device = pool.take(f"fast-{platform}")
    h = Harness(tmp_path)
    h.seed(device)

    def die(step: str) -> None:
        if step == "change":
            raise Killed

    with pytest.raises(Killed):
        h.engine(crash=die).rotate([device.target()])
    pending = h.stored(device, "pending")
    assert pending and ("change", "ok") in h.steps()
    deadline = time.monotonic() + driver_for(platform).confirm_minutes * 3 + 20
    while not login_works(device, OLD):
        assert time.monotonic() < deadline, "the device did not revert the unconfirmed commit"
        time.sleep(0.5)
    assert not login_works(device, pending)

    [again] = h.rotate(device.target())
    assert ("reconcile", "current_works") in h.steps()
    assert again.status == "rotated", again.error
    current = h.stored(device)
    assert current not in (OLD, pending) and h.stored(device, "pending") is None
    assert login_works(device, current) and h.stored(device, "previous") == OLD
    device.reboot()
    assert login_works(device, current)


def test_verify_and_revert_unconfirmed_keeps_both_candidates(pool, keyring_env, tmp_path):
    device = pool.take("cisco_ios")
    h = Harness(tmp_path)
    h.seed(device)
    h.hooks[("change", "ok")] = lambda: device.set_faults(refuse_login=True)
    [result] = h.rotate(device.target())
    assert result.status == "needs_attention"
    assert "both candidates are kept" in result.error
    assert h.stored(device) == OLD and h.stored(device, "pending") not in (None, OLD)
    live_password_is_stored(h, device)
    # The next run reconciles: current logs in again (the revert went through), pending goes.
    device.clear_faults()
    [again] = h.rotate(device.target())
    assert ("reconcile", "current_works") in h.steps()
    assert again.status == "rotated"
    assert live_password_is_stored(h, device) == h.stored(device)


class ReadOnlyKeyring:
    """The real backend for reads; every write fails like a read-only keyring file."""

    def __init__(self, backend):
        self.inner = backend

    def get_password(self, service, name):
        return self.inner.get_password(service, name)

    def set_password(self, service, name, value):
        raise PermissionError("keyring file is read-only")

    def delete_password(self, service, name):
        raise PermissionError("keyring file is read-only")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_escrow_fails_before_the_device_is_touched(pool, keyring_env, tmp_path, platform):
    device = pool.take(platform)
    h = Harness(tmp_path)
    h.seed(device)
    h.secrets.refresh()
    h.secrets.backend = ReadOnlyKeyring(h.secrets.backend)
    [result] = h.rotate(device.target())
    assert result.status == "failed" and "escrow failed" in result.error
    steps = [s for s, _ in h.steps()]
    assert ("escrow", "failed") in h.steps() and "change" not in steps
    assert device.saved_password_is(OLD)
    assert login_works(device, OLD)


def test_changed_host_key_refuses_the_device(pool, keyring_env, tmp_path):
    import paramiko

    device = pool.take("cisco_ios")
    h = Harness(tmp_path)
    h.seed(device)
    impostor = paramiko.RSAKey.generate(2048)
    h.pins.path.write_text(f"[{device.host}]:{device.port} ssh-rsa {impostor.get_base64()}\n")
    [result] = h.rotate(device.target())
    assert result.status == "failed" and "host key" in result.error
    assert ("preflight.hostkey", "changed") in h.steps()
    assert "preflight.login" not in [s for s, _ in h.steps()]
    assert login_works(device, OLD) and h.stored(device) == OLD


def test_host_outside_scope_is_refused_before_connecting(keyring_env, tmp_path):
    import socket

    from rotation.drivers.base import Target

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.setblocking(False)
    h = Harness(tmp_path, scope="198.18.0.0/24")
    h.secrets.put("127.0.0.1", "admin", Secret(OLD), "current")
    target = Target("127.0.0.1", "cisco_ios", "admin", port=listener.getsockname()[1])
    [result] = h.rotate(target)
    assert result.status == "failed" and "refused before connecting" in result.error
    assert h.steps()[0] == ("preflight.scope", "refused")
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody connected
    listener.close()


def test_unknown_platform_lists_valid_names(keyring_env, tmp_path):
    from rotation.drivers.base import Target

    h = Harness(tmp_path)
    [result] = h.rotate(Target("127.0.0.1", "cisco_xr", "admin"))
    assert result.status == "failed" and "valid: " in result.error
    assert "arista_eos, aruba_aoscx, cisco_asa" in result.error  # sorted (kind ad comes first)
    assert isinstance(h.engine(), RotationEngine)


def test_keyring_fails_at_promote_then_next_run_promotes(pool, keyring_env, tmp_path):
    device = pool.take("cisco_ios")
    h = Harness(tmp_path)
    h.seed(device)
    writable = h.secrets.backend

    def keyring_goes_read_only():
        h.secrets.refresh()
        h.secrets.backend = ReadOnlyKeyring(writable)

    h.hooks[("save", "ok")] = keyring_goes_read_only
    [result] = h.rotate(device.target())
    assert result.status == "needs_attention" and "pending" in result.error
    h.secrets.backend = writable
    pending = h.stored(device, "pending")
    assert pending and login_works(device, pending) and not login_works(device, OLD)
    [check] = h.engine().verify([device.target()])
    assert check.status == "pending_works"

    [again] = h.rotate(device.target())
    assert ("reconcile", "promoted") in h.steps()
    assert again.status == "rotated"
    assert h.stored(device, "previous") == pending
    assert live_password_is_stored(h, device) == h.stored(device)


def test_unrecordable_audit_before_the_change_stops_the_rotation(pool, keyring_env, tmp_path):
    device = pool.take("cisco_ios")
    h = Harness(tmp_path)
    h.seed(device)

    def audit_disk_full():
        raise OSError(28, "No space left on device")

    h.hooks[("escrow", "ok")] = audit_disk_full
    [result] = h.rotate(device.target())
    assert result.status == "failed" and "audit log could not record 'escrow'" in result.error
    assert "change" not in [s for s, _ in h.steps()]
    assert h.stored(device, "pending") is None and h.stored(device) == OLD
    assert login_works(device, OLD)
