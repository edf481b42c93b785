"""Shared pieces of the rotation tests: a pool of simulated devices on 127.0.0.1 (one
simulator process for the whole session, every test takes devices nobody else used), an
engine wired to a real keyring, and a direct netmiko login to check what the device takes.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from agent.core.scope import ScopeGuard
from agent.core.secret import Secret
from agent.core.secret_store import SecretStore
from lab.simulators import launch
from rotation.drivers.base import Target
from rotation.engine import RotationEngine
from rotation.hostkeys import HostKeyPins
from rotation.results import StepEvent

OLD = "Old-Planted-4711"
ENABLE = "Enable-Planted-0815"
SIM_PLATFORMS = ["cisco_ios", "cisco_asa", "cisco_nxos", "arista_eos", "juniper_junos",
                 "fortinet", "mikrotik_routeros"]
FAULT_PLATFORMS = ["cisco_ios", "juniper_junos", "fortinet"]
# How many fresh devices each platform gets for the whole session.
POOL = {"cisco_ios": 30, "juniper_junos": 12, "fortinet": 14, "cisco_asa": 3,
        "cisco_nxos": 3, "arista_eos": 3, "mikrotik_routeros": 3, "legacy": 2}


@dataclass(frozen=True)
class Device:
    """One simulated device. Each has its own loopback address, as real devices have their
    own IPs: the keyring names credentials by host and account."""

    name: str
    platform: str
    host: str
    port: int
    state_dir: Path

    def target(self, **overrides) -> Target:
        fields = {"host": self.host, "platform": self.platform, "username": "admin",
                  "port": self.port, **overrides}
        return Target(**fields)


class DevicePool:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.free: dict[str, list[Device]] = {}
        devices = []
        number = 0
        # One host key for all (generating ~70 RSA keys costs ~10 s); pins are per address.
        key = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
        for kind, count in POOL.items():
            platform = "cisco_ios" if kind == "legacy" else kind
            for i in range(count):
                number += 1
                host = loopback(number)
                device = Device(f"{kind}-{i}", platform, host, free_port(host),
                                root / f"{kind}-{i}")
                self.free.setdefault(kind, []).append(device)
                device.state_dir.mkdir(parents=True)
                key.write_private_key(device.state_dir / "ssh_host_key")
                devices.append({
                    "name": device.name, "platform": platform,
                    "listen": f"{host}:{device.port}",
                    "state_dir": str(device.state_dir), "hostname": f"r{i}",
                    "users": {"admin": {"password": OLD, "privilege": 15}},
                    "enable_secret": ENABLE, "legacy": kind == "legacy",
                })
        self.proc = launch({"devices": devices}, root / "spec.json")

    def take(self, kind: str) -> Device:
        if not self.free.get(kind):
            raise RuntimeError(f"the device pool has no fresh {kind} left: raise POOL[{kind!r}]")
        return self.free[kind].pop()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevicePool]:
    devices = DevicePool(tmp_path_factory.mktemp("rotation-sims"))
    yield devices
    devices.stop()


def loopback(number: int, block: int = 2) -> str:
    """127.<block>.x.y: one loopback address per simulated device."""
    return f"127.{block}.{number // 250}.{number % 250 + 1}"


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

    def seed(self, device: Device, password: str = OLD, user: str = "admin") -> None:
        host, platform = device.host, device.platform
        self.secrets.put(host, user, Secret(password), "current", platform=platform)
        self.secrets.put(host, "enable", Secret(ENABLE), "current", platform=platform)

    def on_event(self, event: StepEvent) -> None:
        self.events.append(event)
        hook = self.hooks.pop((event.step, event.outcome), None)
        if hook is not None:
            hook()

    def engine(self, **kwargs) -> RotationEngine:
        return RotationEngine(self.secrets, self.pins, self.scope, on_event=self.on_event,
                              timeout=10, **kwargs)

    def rotate(self, *targets: Target, **kwargs):
        return self.engine().rotate(list(targets), **kwargs)

    def steps(self) -> list[tuple[str, str]]:
        return [(e.step, e.outcome) for e in self.events]

    def stored(self, device: Device, version: str = "current", user: str = "admin") -> str | None:
        value = self.secrets.get(device.host, user, version)
        return value.reveal() if value is not None else None


def login_works(device: Device, password: str, enable: str = ENABLE, user: str = "admin",
                known_hosts: Path | None = None) -> bool:
    """A plain netmiko login (and enable where the platform has one)."""
    from netmiko import ConnectHandler
    from netmiko.exceptions import NetmikoAuthenticationException

    try:
        conn = ConnectHandler(device_type=device.platform, host=device.host, port=device.port,
                              username=user, password=password, secret=enable,
                              conn_timeout=10, auth_timeout=10, allow_agent=False,
                              use_keys=False)
    except NetmikoAuthenticationException:
        return False
    conn.disconnect()
    return True
