"""Shared pieces of the rotation tests, driven by the registries.

``PLATFORMS`` is every registered driver (rotation/drivers) plus the in-memory one
(tests/memory_driver.py); a registered driver without a simulator personality
(lab/simulators/platforms) fails test_every_driver_has_a_simulator. The pool serves fresh
devices of every platform: simulated ones on 127.0.0.1-style loopback addresses (one
simulator process for the whole session), in-memory ones in this process. Tests talk to a
device only through its ``Device`` handle (faults, reboot, saved config, logins, command
log), so the conformance suite and the fault matrix run unchanged on every platform.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from agent.core.scope import ScopeGuard
from agent.core.secret import Secret
from agent.core.secret_store import SecretStore
from lab.simulators import control, launch
from lab.simulators.platforms import PLATFORMS as PERSONALITIES
from rotation.contract import Target
from rotation.drivers import DRIVERS
from rotation.engine import RotationEngine
from rotation.hostkeys import HostKeyPins
from rotation.results import StepEvent
from tests import ad_rotation_lab, memory_driver
from tests.xdist_worker import worker_index

OLD = "Old-Planted-4711"
ENABLE = "Enable-Planted-0815"
# Every registered platform that has a simulator, and the transport-free one.
SIM_PLATFORMS = sorted(p for p in DRIVERS if p in PERSONALITIES)
# Kinds whose "device" is a real service the pool starts itself (ad: a Samba DC, lazily).
SERVICE_PLATFORMS = ["ad"]
# Registered kinds the shared matrix does not run yet, and where they are tested instead.
OWN_SUITES = {
    "windows_local": "tests/test_rotation_windows_local.py: real Samba hosts, the same "
    "faults (refused change, dropped connection, refused verification logon, keyring "
    "failures, kills) played by the host or injected around impacket's reset",
}
PLATFORMS = [*SIM_PLATFORMS, memory_driver.MemoryDriver.platform, *SERVICE_PLATFORMS]
# Fresh devices per simulated platform for the whole session; the Cisco-only tests (enable
# secret, host key, legacy key exchange, the CLI's) take extra cisco_ios devices.
POOL_PER_PLATFORM = 24
EXTRA = {"cisco_ios": 24, "legacy": 2}
# Devices of another kind than their platform: (platform, spec fields). A commit-confirm
# platform's "fast" devices count a minute as 3 s, so a test can wait out the revert.
COMMIT_CONFIRM = sorted(p for p in SIM_PLATFORMS if DRIVERS[p].commit_confirm)
SPECIAL = {
    "legacy": ("cisco_ios", {"legacy": True}),
    **{
        f"aaa-{p}": (p, {"aaa_servers": ["198.18.0.60", "198.18.0.61"]})
        for p in ("cisco_ios", "juniper_junos", "fortinet")
    },
    # Reachable only by telnet (IOS with `login local`): on a free port of its own address,
    # not 23, since parallel test sessions share the loopback addresses.
    "telnet-cisco_ios": ("cisco_ios", {"telnet_port": 0, "ssh": False}),
    **{f"fast-{p}": (p, {"minute_seconds": 3.0}) for p in COMMIT_CONFIRM},
}


@dataclass(frozen=True)
class Device:
    """One device of the pool. Each has its own address, as real devices have their own IPs:
    the keyring names credentials by host and account."""

    name: str
    platform: str
    host: str
    port: int
    state_dir: Path | None = None
    # The rotated account (a domain has one account per "device", named after it).
    account: str = "admin"
    telnet_port: int | None = None

    def target(self, **overrides) -> Target:
        fields = {
            "host": self.host,
            "platform": self.platform,
            "username": self.account,
            "port": self.port,
            **overrides,
        }
        return Target(**fields)

    def credentials(self) -> dict[str, str]:
        """Credentials besides the rotated account's that the driver needs stored."""
        return {"enable": ENABLE}

    # -- the simulator's side (an in-memory device overrides each) -------------------------
    def set_faults(self, **faults: bool) -> None:
        control.set_faults(self.state_dir, **faults)

    def clear_faults(self) -> None:
        control.clear_faults(self.state_dir)

    def reboot(self) -> None:
        control.reboot(self.state_dir)

    def saved_password_is(self, password: str, user: str | None = None) -> bool:
        return control.verify_saved_password(self.state_dir, user or self.account, password)

    def command_log(self) -> list[tuple[str, bool]]:
        return control.command_log(self.state_dir)

    def login_works(self, password: str, user: str | None = None) -> bool:
        """Password authentication alone: what "this password logs in" means."""
        import paramiko

        user = user or self.account
        transport = paramiko.Transport((self.host, self.port))
        try:
            transport.start_client(timeout=10)
            transport.auth_password(user, password, fallback=False)
        except paramiko.AuthenticationException:
            return False
        finally:
            transport.close()
        return True


@dataclass(frozen=True)
class MemoryHandle(Device):
    """A device of the in-memory driver: the same handle, no transport."""

    @property
    def device(self) -> memory_driver.MemoryDevice:
        return memory_driver.DEVICES[(self.host, self.port)]

    def set_faults(self, **faults: bool) -> None:
        self.device.faults.update(faults)

    def clear_faults(self) -> None:
        self.device.faults.clear()

    def reboot(self) -> None:
        self.device.reboot()

    def saved_password_is(self, password: str, user: str | None = None) -> bool:
        return self.device.saved.get(user or self.account) == password

    def command_log(self) -> list[tuple[str, bool]]:
        return list(self.device.log)

    def login_works(self, password: str, user: str | None = None) -> bool:
        return (
            not self.device.faults.get("refuse_login")
            and self.device.users.get(user or self.account) == password
        )


@dataclass(frozen=True)
class AdHandle(Device):
    """A domain account on the pool's Samba DC, reached through its own fault proxy: the
    directory is persistent, so "saved" is "logs in" and a reboot changes nothing."""

    proxy: Any = None
    lab: Any = None

    def target(self, **overrides) -> Target:
        return super().target(**{"login": ad_rotation_lab.BIND_ACCOUNT, **overrides})

    def credentials(self) -> dict[str, str]:
        return {ad_rotation_lab.BIND_ACCOUNT: self.lab.admin_password.reveal()}

    def set_faults(self, **faults: bool) -> None:
        self.proxy.faults.update(faults)

    def clear_faults(self) -> None:
        self.proxy.faults.clear()

    def reboot(self) -> None:
        pass

    def saved_password_is(self, password: str, user: str | None = None) -> bool:
        return self.login_works(password, user)

    def command_log(self) -> list[tuple[str, bool]]:
        return list(self.proxy.log)

    def login_works(self, password: str, user: str | None = None) -> bool:
        return self.lab.login_works(user or self.account, password)


class DevicePool:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.free: dict[str, list[Device]] = {}
        self.memory = 0
        devices = []
        number = 0
        # One host key for all (generating ~200 RSA keys costs ~30 s); pins are per address.
        key = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
        counts = {p: POOL_PER_PLATFORM + EXTRA.get(p, 0) for p in SIM_PLATFORMS}
        counts.update({kind: EXTRA.get(kind, 2) for kind in SPECIAL})
        for kind, count in counts.items():
            platform, extra = SPECIAL.get(kind, (kind, {}))
            for i in range(count):
                number += 1
                host = loopback(number)
                if "telnet_port" in extra:
                    extra = {**extra, "telnet_port": free_port(host)}
                device = Device(
                    f"{kind}-{i}",
                    platform,
                    host,
                    free_port(host),
                    root / f"{kind}-{i}",
                    telnet_port=extra.get("telnet_port"),
                )
                self.free.setdefault(kind, []).append(device)
                device.state_dir.mkdir(parents=True)
                key.write_private_key(device.state_dir / "ssh_host_key")
                devices.append(
                    {
                        "name": device.name,
                        "platform": platform,
                        "listen": f"{host}:{device.port}",
                        "state_dir": str(device.state_dir),
                        "hostname": f"r{i}",
                        "users": {"admin": {"password": OLD, "privilege": 15}},
                        "enable_secret": ENABLE,
                        **extra,
                    }
                )
        self.proc = launch({"devices": devices}, root / "spec.json")
        self.ad: ad_rotation_lab.AdLab | None = None

    def take(self, kind: str) -> Device:
        if kind == "ad":
            if self.ad is None:
                self.ad = _shared_ad(+1)
            name, host, port, proxy = self.ad.new_device()
            return AdHandle(name, kind, host, port, account=name, proxy=proxy, lab=self.ad)
        if kind == memory_driver.MemoryDriver.platform:
            self.memory += 1
            host = loopback(self.memory, block=250)
            memory_driver.DEVICES[(host, 22)] = memory_driver.MemoryDevice({"admin": OLD})
            return MemoryHandle(f"memory-{self.memory}", kind, host, 22)
        if not self.free.get(kind):
            raise RuntimeError(f"the device pool has no fresh {kind} left: raise EXTRA[{kind!r}]")
        return self.free[kind].pop()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        if self.ad is not None:
            _shared_ad(-1)


# One Samba DC per pytest process, whichever module's pool asks first (each module that
# imports ``pool`` gets a pool of its own; a DC is ~450 MB): [lab, pools using it].
_AD: list = [None, 0]


def _shared_ad(delta: int) -> ad_rotation_lab.AdLab:
    if _AD[0] is None:
        _AD[0] = ad_rotation_lab.AdLab(OLD)
    lab = _AD[0]
    _AD[1] += delta
    if _AD[1] <= 0:
        lab.stop()
        _AD[0] = None
    return lab


@pytest.fixture(scope="session")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevicePool]:
    devices = DevicePool(tmp_path_factory.mktemp("rotation-sims"))
    DRIVERS.register(memory_driver.MemoryDriver)
    yield devices
    DRIVERS.unregister(memory_driver.MemoryDriver.platform)
    devices.stop()


def loopback(number: int, block: int = 2) -> str:
    """127.<block>.x.y: one loopback address per simulated device, apart for each pytest-xdist
    worker (each starts its own pool: two workers picking the same address raced for a port)."""
    return f"127.{block}.{worker_index() * 64 + number // 250}.{number % 250 + 1}"


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Harness:
    """An engine on a real (cheap-KDF cryptfile) keyring, recording every event; ``hooks``
    run on (step, outcome) so a test can flip a device fault between two steps."""

    def __init__(self, tmp_path: Path, client: str = "test", scope: str = "127.0.0.0/8"):
        self.secrets = SecretStore(client)
        self.pins = HostKeyPins(tmp_path / "known_hosts")
        self.scope = ScopeGuard([scope], [])
        self.events: list[StepEvent] = []
        self.hooks: dict[tuple[str, str], Callable[[], None]] = {}

    def seed(self, device: Device, password: str = OLD, user: str | None = None) -> None:
        host, platform = device.host, device.platform
        user = user or device.account
        self.secrets.put(host, user, Secret(password), "current", platform=platform)
        for name, value in device.credentials().items():
            self.secrets.put(host, name, Secret(value), "current", platform=platform)

    def on_event(self, event: StepEvent) -> None:
        self.events.append(event)
        hook = self.hooks.pop((event.step, event.outcome), None)
        if hook is not None:
            hook()

    def engine(self, **kwargs) -> RotationEngine:
        return RotationEngine(
            self.secrets, self.pins, self.scope, on_event=self.on_event, timeout=10, **kwargs
        )

    def rotate(self, *targets: Target, **kwargs):
        return self.engine().rotate(list(targets), **kwargs)

    def steps(self) -> list[tuple[str, str]]:
        return [(e.step, e.outcome) for e in self.events]

    def stored(
        self, device: Device, version: str = "current", user: str | None = None
    ) -> str | None:
        value = self.secrets.get(device.host, user or device.account, version)
        return value.reveal() if value is not None else None


def login_works(device: Device, password: str, user: str | None = None) -> bool:
    return device.login_works(password, user)
