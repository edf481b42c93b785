"""The Cisco-style CLI family (IOS, ASA, NX-OS, EOS): exec/enable/config modes.

Platforms override only what differs: where a login lands, messages, save commands,
and the exact `username` syntax.
"""

from __future__ import annotations

from typing import ClassVar

from lab.simulators import neighbors
from lab.simulators.shell import CommandTable, Disconnect, Shell, stored_secret
from lab.simulators.state import Config, User, password_matches
from lab.simulators.terminal import CTRL_Z

USER, ENABLE, CONFIG = "user", "enable", "config"


class CiscoShell(Shell):
    # Whether a privilege-15 login lands directly in enable mode.
    privileged_login: ClassVar[bool] = True
    invalid_text: ClassVar[str] = "% Invalid input detected at '^' marker."
    incomplete_text: ClassVar[str] = "% Incomplete command."
    config_banner: ClassVar[str] = "Enter configuration commands, one per line.  End with CNTL/Z."
    version_text: ClassVar[str] = ""
    # EOS goes straight to `#` when no enable secret is set; IOS refuses on a vty.
    enable_without_secret: ClassVar[bool] = False
    bad_secret_text: ClassVar[str] = "% Bad secrets"
    static_config: ClassVar[str] = ""

    def initial_mode(self) -> str:
        user = self.user
        if self.privileged_login and user is not None and user.privilege >= 15:
            return ENABLE
        return USER

    def banner(self) -> str:
        return "\n"

    def prompt(self) -> str:
        suffix = {USER: ">", ENABLE: "#", CONFIG: "(config)#"}[self.mode]
        return self.hostname + suffix

    def invalid(self, line: str, word_index: int) -> str:
        return f"{self.caret(line, word_index)}\n{self.invalid_text}"

    async def on_control(self, char: str) -> str:
        if char == CTRL_Z and self.mode == CONFIG:
            self.mode = ENABLE
        return ""

    def commands(self) -> CommandTable:
        common: CommandTable = [
            (("terminal", "length"), "cmd_terminal"),
            (("terminal", "width"), "cmd_terminal"),
            (("show", "version"), "cmd_show_version"),
            # The neighbour/MAC/ARP tables the lab's wiring implies (lab/simulators/neighbors.py).
            (("show", "cdp", "neighbors", "detail"), "cmd_show_cdp"),
            (("show", "lldp", "neighbors", "detail"), "cmd_show_lldp"),
            (("show", "mac", "address-table"), "cmd_show_mac"),
            (("show", "ip", "arp"), "cmd_show_arp"),
            (("exit",), "cmd_exit"),
            (("logout",), "cmd_exit"),
            (("quit",), "cmd_exit"),
        ]
        if self.mode == USER:
            return [*common, (("enable",), "cmd_enable")]
        if self.mode == ENABLE:
            return [
                *common,
                (("enable",), "cmd_noop"),
                (("disable",), "cmd_disable"),
                (("show", "running-config"), "cmd_show_running"),
                (("show", "startup-config"), "cmd_show_startup"),
                (("configure", "terminal"), "cmd_configure"),
                *self.save_commands(),
            ]
        return [
            (("username",), "cmd_username"),
            (("no", "username"), "cmd_no_username"),
            (("enable", "secret"), "cmd_enable_secret"),
            (("enable", "password"), "cmd_enable_secret"),
            (("hostname",), "cmd_hostname"),
            (("end",), "cmd_end"),
            (("exit",), "cmd_end"),
            (("do",), "cmd_do"),
        ]

    def save_commands(self) -> CommandTable:
        return [
            (("write", "memory"), "cmd_write"),
            (("write",), "cmd_write"),
            (("copy", "running-config", "startup-config"), "cmd_copy_run_start"),
        ]

    # --- exec -----------------------------------------------------------------------
    async def cmd_noop(self, args: list[str]) -> str:
        return ""

    async def cmd_terminal(self, args: list[str]) -> str:
        return ""

    async def cmd_exit(self, args: list[str]) -> str:
        raise Disconnect

    async def cmd_show_version(self, args: list[str]) -> str:
        return self.version_text.format(hostname=self.hostname)

    async def cmd_show_cdp(self, args: list[str]) -> str:
        return neighbors.cdp_detail(self.device.spec.platform, self._view())

    async def cmd_show_lldp(self, args: list[str]) -> str:
        return neighbors.lldp_detail(self.device.spec.platform, self._view())

    async def cmd_show_mac(self, args: list[str]) -> str:
        return neighbors.mac_table(self.device.spec.platform, self._view())

    async def cmd_show_arp(self, args: list[str]) -> str:
        return neighbors.ip_arp(self.device.spec.platform, self._view())

    def _view(self) -> dict:
        return neighbors.load_view(self.device.state_dir)

    async def cmd_enable(self, args: list[str]) -> str:
        secret = self.device.running.enable_secret
        if secret is None:
            if self.enable_without_secret:
                self.mode = ENABLE
                return ""
            return "% No password set"
        for _attempt in range(3):
            self.term.write("Password: ")
            answer = await self.term.read_line(echo=False)
            if answer is None:
                raise Disconnect
            if password_matches(secret, answer):
                self.mode = ENABLE
                return ""
        return self.bad_secret_text

    async def cmd_disable(self, args: list[str]) -> str:
        self.mode = USER
        return ""

    async def cmd_configure(self, args: list[str]) -> str:
        self.mode = CONFIG
        return self.config_banner

    async def cmd_show_running(self, args: list[str]) -> str:
        return self.render_config(self.device.running)

    async def cmd_show_startup(self, args: list[str]) -> str:
        saved = self.device.saved()
        return self.render_config(saved)

    async def cmd_write(self, args: list[str]) -> str:
        if args and not "memory".startswith(args[0].lower()):
            return self.invalid("write " + " ".join(args), 1)
        return self.save_result()

    async def cmd_copy_run_start(self, args: list[str]) -> str:
        self.term.write("Destination filename [startup-config]? ")
        answer = await self.term.read_line()
        if answer is None:
            raise Disconnect
        if answer.strip() not in ("", "startup-config"):
            return "%Error opening flash:" + answer.strip() + " (Permission denied)"
        return self.save_result()

    def save_result(self) -> str:
        if not self.save():
            return self.save_fail_text
        return "Building configuration...\n[OK]"

    # --- config ---------------------------------------------------------------------
    async def cmd_end(self, args: list[str]) -> str:
        self.mode = ENABLE
        return ""

    async def cmd_do(self, args: list[str]) -> str:
        self.mode = ENABLE
        try:
            return await self.execute(" ".join(args))
        finally:
            if self.mode == ENABLE:
                self.mode = CONFIG

    async def cmd_hostname(self, args: list[str]) -> str:
        if len(args) != 1:
            return self.incomplete_text
        self.device.running.hostname = args[0]
        return ""

    async def cmd_no_username(self, args: list[str]) -> str:
        if not args:
            return self.incomplete_text
        self.device.running.users.pop(args[0], None)
        return ""

    async def cmd_enable_secret(self, args: list[str]) -> str:
        if not args:
            return self.incomplete_text
        encoding_type = "0"
        if len(args) >= 2 and args[0].isdigit():
            encoding_type, args = args[0], args[1:]
        if self.rejects_password():
            return self.reject_text
        # ASA: "enable password P level 15" - the level is not modelled.
        self.device.running.enable_secret = stored_secret(args[0], encoding_type)
        self.changed()
        return ""

    async def cmd_username(self, args: list[str]) -> str:
        parsed = self.parse_username(args)
        if isinstance(parsed, str):
            return parsed
        name, secret, privilege, role = parsed
        users = self.device.running.users
        existing = users.get(name)
        if secret is None:
            if existing is None:
                return self.incomplete_text
            users[name] = User(
                existing.hash, privilege or existing.privilege, role or existing.role
            )
            return ""
        if self.rejects_password():
            return self.reject_text
        default_privilege = existing.privilege if existing else 1
        default_role = existing.role if existing else self.default_role
        users[name] = User(secret, privilege or default_privilege, role or default_role)
        self.changed()
        return ""

    def parse_username(self, args: list[str]) -> tuple[str, str | None, int, str] | str:
        """IOS/EOS syntax: NAME [privilege N] [role R] (secret|password) [TYPE] VALUE."""
        if len(args) < 2:
            return self.incomplete_text
        name, rest = args[0], args[1:]
        secret: str | None = None
        privilege, role = 0, ""
        i = 0
        while i < len(rest):
            word = rest[i].lower()
            if word == "privilege" and i + 1 < len(rest) and rest[i + 1].isdigit():
                privilege, i = int(rest[i + 1]), i + 2
            elif word == "role" and i + 1 < len(rest):
                role, i = rest[i + 1], i + 2
            elif word in ("secret", "password") and i + 1 < len(rest):
                encoding_type = "0"
                if rest[i + 1].isdigit() and i + 2 < len(rest):
                    encoding_type, i = rest[i + 1], i + 1
                secret, i = stored_secret(rest[i + 1], encoding_type), i + 2
            else:
                return self.invalid("username " + " ".join(args), i + 2)
        return name, secret, privilege, role

    # --- rendering --------------------------------------------------------------------
    def render_config(self, config: Config) -> str:
        lines = [
            "Building configuration...",
            "",
            "Current configuration : 1024 bytes",
            "!",
            f"hostname {config.hostname}",
            "!",
        ]
        if config.enable_secret:
            lines.append(f"enable secret 5 {config.enable_secret}")
        lines.append("!")
        if config.aaa_servers:
            # Logins ask the servers first; the local accounts answer only when none does.
            lines += ["aaa new-model", "aaa authentication login default group tacacs+ local"]
            for number, server in enumerate(config.aaa_servers, start=1):
                lines += [f"tacacs server AAA{number}", f" address ipv4 {server}", "!"]
        for name, user in sorted(config.users.items()):
            lines.append(self.render_user(name, user))
        lines.append("!")
        lines.extend(self.static_config.splitlines())
        lines.append("end")
        return "\n".join(lines)

    def render_user(self, name: str, user: User) -> str:
        return f"username {name} privilege {user.privilege} secret 5 {user.hash}"
