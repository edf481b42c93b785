"""A rotation driver with no transport at all: devices are objects in this process.

It proves the contract is not SSH-shaped: registered as platform ``memory``, it runs the
same conformance suite and fault matrix as the SSH platforms (tests/rotation_helpers.py
registers it for the session's device pool and gives both the same Device handle). Its
faults mirror the simulators' switches.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, field

from agent.core.secret import Secret
from rotation.contract import (
    ChangeRejected,
    ConnectionLost,
    Driver,
    LoginRefused,
    PeerIdentity,
    PeerRejected,
    SaveFailed,
    check_secret,
)


@dataclass
class MemoryDevice:
    """One in-memory device: running and saved passwords per account, fault switches and a
    log of what was done to it (the same shape as the simulators' command log)."""

    users: dict[str, str]
    saved: dict[str, str] = field(default_factory=dict)
    faults: dict[str, bool] = field(default_factory=dict)
    log: list[tuple[str, bool]] = field(default_factory=list)
    identity: str = field(default_factory=lambda: secrets.token_hex(16))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.saved = dict(self.users)

    def accepts(self, user: str, password: str) -> bool:
        ok = not self.faults.get("refuse_login") and self.users.get(user) == password
        self.log.append(("login" if ok else "login_refused", False))
        return ok

    def reboot(self) -> None:
        self.users = dict(self.saved)


# (host, port) -> device; pins per pin store: (pins path, host, port) -> identity.
DEVICES: dict[tuple[str, int], MemoryDevice] = {}
PINS: dict[tuple[str, str, int], str] = {}


class MemoryDriver(Driver):
    platform = "memory"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.device = DEVICES.get((self.target.host, self.target.port))
        self.session = False

    def _reachable(self) -> MemoryDevice:
        if self.device is None:
            raise ConnectionLost(f"{self.target.host}: no such device")
        return self.device

    def preflight(self) -> PeerIdentity:
        device = self._reachable()
        key = (str(self.env.pins.path), self.target.host, self.target.port)
        first = key not in PINS
        pinned = PINS.setdefault(key, device.identity)
        if pinned != device.identity:
            raise PeerRejected(f"{self.target.host}: the device identity differs from the pin")
        fingerprint = hashlib.sha256(device.identity.encode()).hexdigest()[:16]
        return PeerIdentity(fingerprint, first_contact=first)

    def open(self, rotated: Secret) -> None:
        if not self._reachable().accepts(self.target.login_user, rotated.reveal()):
            raise LoginRefused(f"{self.target.host}: login refused")
        self.session = True

    def close(self) -> None:
        self.session = False

    @property
    def alive(self) -> bool:
        return self.session

    def account_exists(self) -> bool:
        return self.target.username in self._reachable().users

    def change(self, new: Secret, old: Secret) -> None:
        value = check_secret(new, self.policy, "new password")
        device = self._reachable()
        if not self.session:
            raise ConnectionLost("change: no session")
        with device.lock:
            if device.faults.get("reject_new_password"):
                device.log.append(("change", False))
                raise ChangeRejected("change: device said: password rejected by policy")
            device.users[self.target.username] = value
            device.log.append(("change", True))
        if device.faults.get("drop_after_change"):
            self.session = False
            raise ConnectionLost("change: session lost: the device closed the session")

    def save(self) -> None:
        device = self._reachable()
        if not self.session:
            raise ConnectionLost("save: no session")
        if device.faults.get("fail_save"):
            device.log.append(("save", False))
            raise SaveFailed("save: device said: could not write the configuration")
        device.saved = dict(device.users)
        device.log.append(("save", True))

    def verify(self, rotated: Secret, refused: Secret | None = None) -> bool | None:
        device = self._reachable()
        refusal = None
        if refused is not None:
            refusal = not device.accepts(self.target.username, refused.reveal())
        if not device.accepts(self.target.login_user, rotated.reveal()):
            raise LoginRefused(f"{self.target.host}: login refused")
        return refusal
