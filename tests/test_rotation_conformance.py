"""Every platform's driver, end to end against its simulator through the one engine:
rotated, the new password logs in, the old one is refused, and it survives a reboot."""

from __future__ import annotations

import pytest

from agent.core.secret import Secret
from lab.simulators import control
from tests.rotation_helpers import ENABLE, OLD, SIM_PLATFORMS, Harness, login_works, pool

__all__ = ["pool"]


@pytest.mark.parametrize("platform", SIM_PLATFORMS)
def test_platform_rotates_end_to_end(pool, keyring_env, tmp_path, platform):
    device = pool.take(platform)
    h = Harness(tmp_path)
    h.seed(device)

    [result] = h.rotate(device.target())

    assert result.status == "rotated", result.error
    assert (result.verified, result.saved, result.old_password_refused) == (True, True, True)
    new = h.stored(device)
    assert new and new != OLD
    assert h.stored(device, "previous") == OLD and h.stored(device, "pending") is None
    assert login_works(device, new) and not login_works(device, OLD)
    control.reboot(device.state_dir)
    assert control.verify_saved_password(device.state_dir, "admin", new)
    assert login_works(device, new)
    steps = [step for step, _ in h.steps()]
    # Escrow lands before anything is sent; promotion only after verify and save.
    assert steps.index("escrow") < steps.index("change") < steps.index("verify")
    assert steps.index("save") < steps.index("promote")
    assert ("preflight.hostkey", "pinned") in h.steps()


def test_second_rotation_uses_the_pin_and_the_new_password(pool, keyring_env, tmp_path):
    device = pool.take("cisco_ios")
    h = Harness(tmp_path)
    h.seed(device)
    first = h.rotate(device.target())[0]
    between = h.stored(device)
    second = h.rotate(device.target())[0]
    assert (first.status, second.status) == ("rotated", "rotated")
    assert h.steps().count(("preflight.hostkey", "pinned")) == 1  # first contact only
    assert h.steps().count(("preflight", "ok")) == 2
    assert h.stored(device, "previous") == between and login_works(device, h.stored(device))


def test_legacy_sha1_only_device_rotates(pool, keyring_env, tmp_path):
    device = pool.take("legacy")
    h = Harness(tmp_path)
    h.seed(device)
    [result] = h.rotate(device.target())
    assert result.status == "rotated", result.error
    assert login_works(device, h.stored(device))


def test_enable_secret_rotates_through_the_login_account(pool, keyring_env, tmp_path):
    device = pool.take("cisco_ios")
    h = Harness(tmp_path)
    h.seed(device)
    [result] = h.rotate(device.target(username="enable", login="admin"))
    assert result.status == "rotated", result.error
    new_enable = h.stored(device, user="enable")
    assert new_enable != ENABLE and h.stored(device, "previous", user="enable") == ENABLE
    assert enable_works(device, new_enable)
    # The old enable secret is refused (checked with the driver's own fresh login: netmiko
    # waits out its read timeout on a re-prompted `Password:`).
    from rotation.drivers import driver_for
    from rotation.drivers.base import PrivilegeFailed

    driver = driver_for("cisco_ios")(device.target(username="enable", login="admin"),
                                     known_hosts=h.pins.path, timeout=5)
    with pytest.raises(PrivilegeFailed):
        driver.check_login(Secret(OLD), Secret(ENABLE))
    control.reboot(device.state_dir)
    assert enable_works(device, new_enable)


def enable_works(device, secret: str) -> bool:
    """Log in as admin, drop to user level, and ask `enable` for ``secret``."""
    from netmiko import ConnectHandler

    conn = ConnectHandler(device_type=device.platform, host=device.host, port=device.port,
                          username="admin", password=OLD, secret=secret)
    try:
        conn.send_command("disable", expect_string=r">")
        conn.enable()
        return conn.check_enable_mode()
    finally:
        conn.disconnect()


def test_dry_run_changes_nothing(pool, keyring_env, tmp_path):
    device = pool.take("fortinet")
    h = Harness(tmp_path)
    h.seed(device)
    [result] = h.rotate(device.target(), dry_run=True)
    assert result.status == "unchanged" and "would set" in result.plan
    assert h.stored(device) == OLD and h.stored(device, "pending") is None
    assert "escrow" not in [s for s, _ in h.steps()]
    assert login_works(device, OLD)


def test_parallel_devices_rotate_independently(pool, keyring_env, tmp_path):
    devices = [pool.take("cisco_ios") for _ in range(4)]
    h = Harness(tmp_path)
    for device in devices:
        h.seed(device)
    missing = pool.take("cisco_ios")  # nothing stored for it: fails alone
    targets = [d.target() for d in [*devices[:2], missing, *devices[2:]]]
    results = h.engine(parallel=4).rotate(targets)
    assert [r.status for r in results] == ["rotated", "rotated", "failed", "rotated", "rotated"]
    assert "no stored credential" in results[2].error
    for device in devices:
        assert login_works(device, h.stored(device))
