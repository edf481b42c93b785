"""Every registered platform's driver, end to end through the one engine (simulated devices
and the transport-free in-memory driver alike): rotated, the new password logs in, the old
one is refused, it survives a reboot, and a dry run or a hostile name changes nothing."""

from __future__ import annotations

import pytest

from lab.simulators.platforms import PLATFORMS as PERSONALITIES
from rotation.drivers import DRIVERS, driver_for
from tests.rotation_helpers import (
    ENABLE,
    OLD,
    OWN_SUITES,
    PLATFORMS,
    SERVICE_PLATFORMS,
    Harness,
    login_works,
    pool,
)

__all__ = ["pool"]


def test_every_driver_has_a_simulator():
    """A new platform is a driver and a simulator personality: both registries agree (a
    kind whose pool device is a real service, such as ad's Samba DC, needs no personality)."""
    simulated = set(DRIVERS) - {"memory", *SERVICE_PLATFORMS, *OWN_SUITES}
    missing = sorted(p for p in simulated if p not in PERSONALITIES)
    assert not missing, f"drivers without a simulator personality: {missing}"
    assert set(PLATFORMS) == {*DRIVERS, "memory", *SERVICE_PLATFORMS} - set(OWN_SUITES)


@pytest.mark.parametrize("platform", PLATFORMS)
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
    device.reboot()
    assert device.saved_password_is(new)
    assert login_works(device, new)
    steps = [step for step, _ in h.steps()]
    # Escrow lands before anything is sent; promotion only after verify and save.
    assert steps.index("escrow") < steps.index("change") < steps.index("verify")
    assert steps.index("save") < steps.index("promote")
    assert (f"preflight.{driver_for(platform).identity_check}", "pinned") in h.steps()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_dry_run_changes_nothing(pool, keyring_env, tmp_path, platform):
    device = pool.take(platform)
    h = Harness(tmp_path)
    h.seed(device)
    [result] = h.rotate(device.target(), dry_run=True)
    assert result.status == "unchanged" and "would set" in result.plan
    assert h.stored(device) == OLD and h.stored(device, "pending") is None
    assert "escrow" not in [s for s, _ in h.steps()]
    # The device's own log: it was logged in to and looked at, nothing changed.
    log = device.command_log()
    assert ("login", False) in log
    assert not [what for what, changed in log if changed]
    assert device.saved_password_is(OLD) and login_works(device, OLD)


INJECTIONS = [
    "itadmin;touch PWNED;true",
    "admin\nconfigure terminal\nusername backdoor privilege 15 secret 0 Backdoor-1234\n"
    "end\nwrite memory",
    "admin\x1b]52;c;cm0gLXJmIH4=\x07",
    "admin user",
]


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "rotate"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_hostile_usernames_are_refused_before_any_session(
    pool, keyring_env, tmp_path, platform, dry_run
):
    device = pool.take(platform)
    h = Harness(tmp_path)
    h.seed(device)
    targets = [device.target(username=name) for name in INJECTIONS]
    targets.append(device.target(username="enable", login=INJECTIONS[1]))
    results = h.rotate(*targets, dry_run=dry_run)
    for result in results:
        assert result.status == "failed" and "refused before connecting" in result.error
    assert h.steps().count(("preflight.target", "refused")) == len(targets)
    # Not one login, not one command: the names never reached the device.
    assert device.command_log() == []
    assert device.saved_password_is(OLD) and not device.saved_password_is(OLD, "backdoor")
    assert login_works(device, OLD)


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
    from agent.core.secret import Secret
    from rotation.contract import DriverEnv, PrivilegeFailed

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
    env = DriverEnv(stored=lambda user, version: Secret(OLD), pins=h.pins, timeout=5)
    driver = driver_for("cisco_ios")(device.target(username="enable", login="admin"), env)
    with pytest.raises(PrivilegeFailed):
        driver.verify(Secret(ENABLE))
    device.reboot()
    assert enable_works(device, new_enable)


def test_admin_and_enable_on_one_device_both_rotate(pool, keyring_env, tmp_path):
    """The documented example at the default --parallel: the engine serialises one
    device's accounts, so neither change races the other's session."""
    device = pool.take("cisco_ios")
    h = Harness(tmp_path)
    h.seed(device)
    targets = [device.target(), device.target(username="enable", login="admin")]
    results = h.engine().rotate(targets)
    assert [r.status for r in results] == ["rotated", "rotated"], [r.error for r in results]
    assert login_works(device, h.stored(device)) and not login_works(device, OLD)
    assert enable_works(device, h.stored(device, user="enable"), h.stored(device))
    # One device's lifecycles ran one after the other.
    users = [e.username for e in h.events if e.step in ("preflight", "result")]
    assert users == ["admin", "admin", "enable", "enable"]


def enable_works(device, secret: str, login: str = OLD) -> bool:
    """Log in as admin, drop to user level, and ask `enable` for ``secret``."""
    from netmiko import ConnectHandler

    conn = ConnectHandler(
        device_type=device.platform,
        host=device.host,
        port=device.port,
        username="admin",
        password=login,
        secret=secret,
    )
    try:
        conn.send_command("disable", expect_string=r">")
        conn.enable()
        return conn.check_enable_mode()
    finally:
        conn.disconnect()


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


def test_aaa_fallback_is_said_in_the_plan_and_the_result(pool, keyring_env, tmp_path):
    """A device that asks TACACS+ first: the rotated local account is its fallback, and the
    plan, the result and the preflight event say so, with the servers."""
    device = pool.take("aaa-cisco_ios")
    h = Harness(tmp_path)
    h.seed(device)
    [plan] = h.rotate(device.target(), dry_run=True)
    assert "AAA fallback (servers 198.18.0.60, 198.18.0.61)" in plan.plan
    [result] = h.rotate(device.target())
    assert result.status == "rotated", result.error
    assert (result.auth, result.aaa_servers) == ("aaa-fallback", ["198.18.0.60", "198.18.0.61"])
    assert result.as_dict()["auth"] == "aaa-fallback"
    preflight = [e.detail for e in h.events if e.step == "preflight" and e.outcome == "ok"]
    assert preflight[-1]["auth"] == "aaa-fallback"

    plain = pool.take("cisco_ios")
    h.seed(plain)
    [local] = h.rotate(plain.target())
    assert (local.auth, local.aaa_servers) == ("local", [])
    assert "aaa_servers" not in local.as_dict()
