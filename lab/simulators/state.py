"""On-disk state of one simulated device: saved config, fault switches, host key.

Everything a test needs to observe or flip lives in the device's `state_dir`, so the
test process and the simulator process share it without any other channel:

- `saved.json`: the saved (startup / committed) configuration. Passwords are stored as
  crypt(3) hashes, the way devices store them, never in clear.
- `faults.json`: fault switches, re-read on every connection and every command.
- `reboot.request`: present while a reboot is pending (see `control.reboot`).
- `ssh_host_key`: the pinned RSA host key, generated on first start.
- `rulebase.conf`: a firewall's rule base as the device prints it, copied from the spec's
  `rulebase` file at first start (the simulators answer the review's show commands from it).
- `commands.log`: one line per login and per command typed (the handler's name and whether
  it changed the device; never the arguments).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import asyncssh

with warnings.catch_warnings():
    # `crypt` is the only stdlib sha512-crypt; it is deprecated (gone in 3.13, where the
    # crypt-r backport from the lab extra provides the same module).
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt
    except ImportError:  # pragma: no cover - Python >= 3.13
        import crypt_r as crypt  # type: ignore[no-redef]

SAVED_FILE = "saved.json"
FAULTS_FILE = "faults.json"
REBOOT_FILE = "reboot.request"
HOST_KEY_FILE = "ssh_host_key"
COMMAND_LOG = "commands.log"
RULEBASE_FILE = "rulebase.conf"


@dataclass
class User:
    """One local account: a crypt hash, a Cisco-style privilege and a platform role."""

    hash: str
    privilege: int = 15
    role: str = ""


@dataclass
class Config:
    """The part of a device configuration the simulators model."""

    hostname: str
    users: dict[str, User] = field(default_factory=dict)
    enable_secret: str | None = None
    # TACACS+/RADIUS servers logins go to before the local accounts (Cisco `aaa new-model`).
    aaa_servers: list[str] = field(default_factory=list)

    def copy(self) -> Config:
        return Config.from_json(self.to_json())

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Config:
        users = {name: User(**u) for name, u in data.get("users", {}).items()}
        return cls(
            hostname=data["hostname"],
            users=users,
            enable_secret=data.get("enable_secret"),
            aaa_servers=list(data.get("aaa_servers") or []),
        )


@dataclass
class Faults:
    """Fault switches a test flips while the device runs."""

    reject_new_password: bool = False
    drop_after_change: bool = False
    fail_save: bool = False
    slow_seconds: float = 0.0
    refuse_login: bool = False


FAULT_NAMES = frozenset(f.name for f in fields(Faults))


def hash_password(password: str) -> str:
    """sha512-crypt, the format Junos, Linux and most appliances accept."""
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


def password_matches(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        return False
    return crypt.crypt(password, stored_hash) == stored_hash


def is_crypt_hash(value: str) -> bool:
    return value.startswith(("$1$", "$5$", "$6$"))


def write_json(path: Path, data: dict) -> None:
    # Atomic replace: the other process may read the file at any moment.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def load_saved(state_dir: Path) -> Config | None:
    path = Path(state_dir) / SAVED_FILE
    if not path.exists():
        return None
    return Config.from_json(json.loads(path.read_text()))


def write_saved(state_dir: Path, config: Config) -> None:
    write_json(Path(state_dir) / SAVED_FILE, config.to_json())


def read_faults(state_dir: Path) -> Faults:
    path = Path(state_dir) / FAULTS_FILE
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return Faults()
    return Faults(**{k: v for k, v in data.items() if k in FAULT_NAMES})


def host_key(state_dir: Path) -> asyncssh.SSHKey:
    """Load the device's host key, generating it on first use (RSA: legacy needs ssh-rsa)."""
    path = Path(state_dir) / HOST_KEY_FILE
    if path.exists():
        # The file is the device's own key: skip RSA validation (~40 ms a key at start).
        return asyncssh.read_private_key(path, unsafe_skip_rsa_key_validation=True)
    key = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    key.write_private_key(path)
    path.chmod(0o600)
    return key


def load_rulebase(state_dir: Path, source: str | None) -> str:
    """The device's rule base text: its own copy once it has one, else the spec's file copied
    in (0600, never through a symlink), else none."""
    path = Path(state_dir) / RULEBASE_FILE
    if not path.exists() and source:
        text = Path(source).read_text()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    return path.read_text() if path.exists() else ""
