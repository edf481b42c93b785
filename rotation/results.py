"""What a rotation or verification reports per device, and the events the engine emits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The credential kind a platform rotates; every SSH platform is a "device".
KIND_OF_PLATFORM = {"ad": "ad", "windows_local": "windows_local"}
STATUSES = ("rotated", "unchanged", "failed", "rolled_back", "needs_attention", "skipped")
VERIFY_STATUSES = ("ok", "changed", "pending_works", "failed", "refused")


@dataclass(frozen=True)
class StepEvent:
    """One lifecycle step on one device: who/when are added by the audit log. ``detail``
    never holds a secret (lengths, fingerprints, scrubbed error texts only)."""

    host: str
    platform: str
    username: str
    step: str
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return f"{self.username}@{self.host}"


@dataclass
class RotationResult:
    host: str
    platform: str
    username: str
    status: str = "failed"
    verified: bool = False
    saved: bool = False
    old_password_refused: bool | None = None
    error: str | None = None
    plan: str | None = None
    # "local" or "aaa-fallback" (the device asks TACACS+/RADIUS first); None: the driver
    # cannot tell. The servers it asks, where there are any.
    auth: str | None = None
    aaa_servers: list[str] = field(default_factory=list)
    # "telnet" when the device was rotated over telnet (both passwords crossed in clear);
    # None: SSH, the default.
    transport: str | None = None

    @property
    def kind(self) -> str:
        return KIND_OF_PLATFORM.get(self.platform, "device")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("plan", "auth", "transport"):
            if data[key] is None:
                data.pop(key)
        if not self.aaa_servers:
            data.pop("aaa_servers")
        data["kind"] = self.kind
        return data


@dataclass
class VerifyResult:
    """``ok``: the stored current password logs in; ``changed``: it is refused (changed
    outside keyturn); ``pending_works``: an unfinished rotation's escrowed password logs in;
    ``refused``: keyturn refused the device (scope, host key); ``failed``: unreachable."""

    host: str
    platform: str
    username: str
    status: str = "failed"
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rotation_exit_code(results: list[RotationResult]) -> int:
    """0 all rotated (or, on a dry run, all ready), 3 none did, 1 anything in between. A
    target skipped on purpose (LAPS manages it, listed twice) fails nothing by itself."""
    good = {"rotated", "unchanged"}
    done = [r for r in results if r.status != "skipped"]
    if not results or (done and all(r.status in good for r in done)):
        return 0
    if all(r.status in ("failed", "skipped") for r in results):
        return 3
    return 1


def verify_exit_code(results: list[VerifyResult]) -> int:
    if not results or all(r.status == "ok" for r in results):
        return 0
    if all(r.status in ("failed", "refused") for r in results):
        return 3
    return 1
