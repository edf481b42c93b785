"""Serve every simulated device of a spec from one asyncio event loop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
from asyncssh.kex import get_default_kex_algs

from lab.simulators import state
from lab.simulators.platforms import PLATFORMS
from lab.simulators.shell import Shell
from lab.simulators.terminal import Terminal

log = logging.getLogger(__name__)

# What a field device from ~2010 offers: SHA-1 key exchange and ssh-rsa signatures only.
LEGACY_KEX = (
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group-exchange-sha1",
    "diffie-hellman-group1-sha1",
)
LEGACY_HOST_KEY_ALGS = (b"ssh-rsa",)
LEGACY_CIPHERS = ("aes128-ctr", "aes256-ctr", "aes128-cbc", "aes256-cbc")
LEGACY_MACS = ("hmac-sha1", "hmac-sha2-256")
# A current device offers asyncssh's defaults minus SHA-1, so only legacy ones need it.
MODERN_KEX = tuple(
    alg.decode()
    for alg in get_default_kex_algs()
    if not alg.endswith(b"-sha1") and not alg.startswith(b"gss-")
)


@dataclass
class DeviceSpec:
    name: str
    platform: str
    listen: str
    state_dir: Path
    hostname: str
    users: dict[str, dict]
    enable_secret: str | None = None
    legacy: bool = False
    # Seconds in a simulated minute (commit-confirm timers); tests shorten it.
    minute_seconds: float = 60.0
    aaa_servers: tuple[str, ...] = ()
    # A telnet listener on the same address (23 on a real device); ssh=False: telnet only.
    telnet_port: int | None = None
    ssh: bool = True
    # A firewall's rule base as the device prints it (lab/data/review/): the device boots
    # with it once and keeps it in its state directory (its flash) from then on.
    rulebase: str | None = None

    @classmethod
    def from_json(cls, data: dict) -> DeviceSpec:
        if data["platform"] not in PLATFORMS:
            raise ValueError(
                f"{data['name']}: unknown platform {data['platform']!r}; valid: {sorted(PLATFORMS)}"
            )
        return cls(
            name=data["name"],
            platform=data["platform"],
            listen=data["listen"],
            state_dir=Path(data["state_dir"]),
            hostname=data["hostname"],
            users=data.get("users", {}),
            enable_secret=data.get("enable_secret"),
            legacy=bool(data.get("legacy", False)),
            minute_seconds=float(data.get("minute_seconds", 60.0)),
            aaa_servers=tuple(data.get("aaa_servers") or ()),
            telnet_port=data.get("telnet_port"),
            ssh=bool(data.get("ssh", True)),
            rulebase=data.get("rulebase"),
        )

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class Device:
    """Live state of one device: running config, sessions, and its state directory."""

    def __init__(self, spec: DeviceSpec) -> None:
        self.spec = spec
        self.shell_class: type[Shell] = PLATFORMS[spec.platform]
        self.state_dir = spec.state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # A device that was saved before boots from its saved config, not the spec.
        saved = state.load_saved(self.state_dir)
        if saved is None:
            saved = self._factory_config()
            state.write_saved(self.state_dir, saved)
        self.running = saved.copy()
        # Junos candidate configuration (None: nobody is editing).
        self.candidate: state.Config | None = None
        # Runtime settings that are not part of the modelled config (FortiOS console mode).
        self.settings: dict[str, str] = {}
        self.rulebase = state.load_rulebase(self.state_dir, spec.rulebase)
        self.sessions: set[Terminal] = set()
        self.saves = 0
        # A commit-confirm's pending revert (None: nothing awaits confirmation).
        self.revert_timer: asyncio.TimerHandle | None = None
        # A pending reboot request from before a restart is moot: a restart is a reboot.
        (self.state_dir / state.REBOOT_FILE).unlink(missing_ok=True)

    def _factory_config(self) -> state.Config:
        users = {
            name: state.User(
                hash=state.hash_password(u["password"]),
                privilege=int(u.get("privilege", 15)),
                role=u.get("role", self.shell_class.default_role),
            )
            for name, u in self.spec.users.items()
        }
        secret = self.spec.enable_secret
        return state.Config(
            hostname=self.spec.hostname,
            users=users,
            enable_secret=state.hash_password(secret) if secret else None,
            aaa_servers=list(self.spec.aaa_servers),
        )

    def fingerprint(self) -> tuple:
        """What a command could change: running config, candidate, saves so far, the rule
        base. The console settings are left out: netmiko's FortiOS login sets them on every
        session (rotation's too); a review proves it never does by the handlers it ran."""
        candidate = self.candidate.to_json() if self.candidate is not None else None
        return (self.running.to_json(), candidate, self.saves, self.rulebase)

    def log(self, what: str, *, changed: bool) -> None:
        """One line per command (its handler's name, never its arguments: they may hold a
        password) or login, and whether it changed the device, for tests to read."""
        with (self.state_dir / state.COMMAND_LOG).open("a") as handle:
            handle.write(f"{what} {'changed' if changed else 'same'}\n")

    def faults(self) -> state.Faults:
        return state.read_faults(self.state_dir)

    def saved(self) -> state.Config:
        return state.load_saved(self.state_dir) or self.running

    def save(self) -> None:
        state.write_saved(self.state_dir, self.running)
        self.saves += 1

    def apply_pending_reboot(self) -> bool:
        """If a reboot was requested, reload the saved config and cut every session."""
        request = self.state_dir / state.REBOOT_FILE
        if not request.exists():
            return False
        request.unlink(missing_ok=True)
        self.running = (state.load_saved(self.state_dir) or self._factory_config()).copy()
        self.candidate = None
        self.settings.clear()
        self.disarm_revert()
        for term in list(self.sessions):
            term.abort()
        self.sessions.clear()
        log.info("%s rebooted", self.spec.name)
        return True

    def arm_revert(self, minutes: int, reboot: bool = True) -> None:
        """Commit-confirm: unless ``disarm_revert`` comes first, after ``minutes`` the saved
        config comes back: by a reboot that cuts open sessions (VyOS, EdgeOS) or by a
        rollback (Junos)."""
        self.disarm_revert()
        loop = asyncio.get_running_loop()
        action = self._revert if reboot else self._rollback
        self.revert_timer = loop.call_later(minutes * self.spec.minute_seconds, action)

    def disarm_revert(self) -> bool:
        """Confirm: cancel a pending revert; False when none was pending."""
        if self.revert_timer is None:
            return False
        self.revert_timer.cancel()
        self.revert_timer = None
        return True

    def _rollback(self) -> None:
        self.revert_timer = None
        self.running = (state.load_saved(self.state_dir) or self._factory_config()).copy()
        self.candidate = None
        log.info("%s: commit not confirmed, rolled back", self.spec.name)

    def _revert(self) -> None:
        self.revert_timer = None
        (self.state_dir / state.REBOOT_FILE).touch()
        self.apply_pending_reboot()
        log.info("%s: commit not confirmed, reverted", self.spec.name)

    def login_ok(self, username: str, password: str) -> bool:
        user = self.running.users.get(username)
        return user is not None and state.password_matches(user.hash, password)


class _DeviceServer(asyncssh.SSHServer):
    def __init__(self, device: Device) -> None:
        self._device = device

    def begin_auth(self, username: str) -> bool:
        self._device.apply_pending_reboot()
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        login = self._device.shell_class.login_name(username)
        ok = not self._device.faults().refuse_login and self._device.login_ok(login, password)
        self._device.log("login" if ok else "login_refused", changed=False)
        return ok


async def _run_session(device: Device, process: asyncssh.SSHServerProcess) -> None:
    username = device.shell_class.login_name(process.get_extra_info("username"))
    await run_shell(device, Terminal(process), username, process)


async def run_shell(device: Device, term: Terminal, username: str, process: Any) -> None:
    """The device's shell for one logged-in session (SSH, or lab/simulators/telnet.py)."""
    device.sessions.add(term)
    try:
        shell = device.shell_class(device, term, username)
        if process.command:
            await shell.run_command(process.command)
        else:
            await shell.run()
    except Exception:  # a crash in one session must not take the device down
        log.exception("%s: session failed", device.spec.name)
        term.abort()
    finally:
        device.sessions.discard(term)
        if not process.is_closing():
            process.exit(0)


def _host_keys(device: Device) -> list[asyncssh.SSHKeyPair]:
    keypairs = asyncssh.load_keypairs([state.host_key(device.state_dir)])
    if device.spec.legacy:
        # asyncssh would also offer rsa-sha2-*; an old device only signs with ssh-rsa.
        for keypair in keypairs:
            keypair.host_key_algorithms = LEGACY_HOST_KEY_ALGS
    return keypairs


async def start_device(device: Device) -> asyncssh.SSHAcceptor:
    host, port = device.spec.host_port
    options: dict = {"kex_algs": list(MODERN_KEX)}
    if device.spec.legacy:
        options = {
            "kex_algs": list(LEGACY_KEX),
            "encryption_algs": list(LEGACY_CIPHERS),
            "mac_algs": list(LEGACY_MACS),
        }

    async def handle(process: asyncssh.SSHServerProcess) -> None:
        await _run_session(device, process)

    return await asyncssh.create_server(
        lambda: _DeviceServer(device),
        host,
        port,
        server_host_keys=_host_keys(device),
        process_factory=handle,
        line_editor=False,
        allow_scp=False,
        reuse_address=True,
        **options,
    )


async def serve(specs: list[DeviceSpec], ready: asyncio.Event, stop: asyncio.Event) -> None:
    """Start a listener per device, set `ready`, and serve until `stop` is set."""
    from lab.simulators.telnet import serve_telnet

    devices = [Device(spec) for spec in specs]
    acceptors: list[Any] = [await start_device(d) for d in devices if d.spec.ssh]
    for device in devices:
        if device.spec.telnet_port:
            acceptors.append(await serve_telnet(device, device.spec.telnet_port))
    ready.set()
    await stop.wait()
    for acceptor in acceptors:
        acceptor.close()
    for acceptor in acceptors:
        await acceptor.wait_closed()
