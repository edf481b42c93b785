"""Cisco ASA: lands in `>`, `enable password`, `login`, `show curpriv`, ERROR: messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.simulators import rulebase
from lab.simulators.platforms.cisco import CONFIG, ENABLE, CiscoShell
from lab.simulators.shell import CommandTable, Disconnect, stored_secret
from lab.simulators.state import Config, User, password_matches
from lab.simulators.terminal import Terminal

if TYPE_CHECKING:
    from lab.simulators.server import Device

MORE = "<--- More --->"
ERASE = "\r" + " " * len(MORE) + "\r"


class CiscoAsaShell(CiscoShell):
    platform = "cisco_asa"
    privileged_login = False
    invalid_text = "ERROR: % Invalid input detected at '^' marker."
    incomplete_text = "ERROR: % Incomplete command"
    config_banner = ""
    reject_text = "ERROR: Password does not meet the password policy requirements"
    save_fail_text = "Error executing command\n[FAILED]"
    version_text = (
        "Cisco Adaptive Security Appliance Software Version 9.8(4)48\n"
        "Device Manager Version 7.8(2)\n\n"
        "{hostname} up 84 days 3 hours\n\n"
        "Hardware:   ASA5516, 8192 MB RAM, CPU Atom C2000 series 2416 MHz, 1 CPU (8 cores)"
    )
    static_config = "interface GigabitEthernet1/1\n nameif outside\n security-level 0\n!"

    def __init__(self, device: Device, term: Terminal, username: str) -> None:
        super().__init__(device, term, username)
        # The configured `pager lines N` pages every session until `terminal pager 0`
        # (which lasts for this session only and changes no configuration).
        self.pager_lines = 24 if "\npager lines 24\n" in device.rulebase else 0

    def banner(self) -> str:
        return "Type help or '?' for a list of available commands.\n"

    async def write_output(self, output: str) -> None:
        if self.pager_lines:
            await self.page(output, self.pager_lines, MORE, ERASE)
        else:
            self.term.write(output)

    async def cmd_terminal_pager(self, args: list[str]) -> str:
        if args[:1] == ["lines"]:
            args = args[1:]
        if len(args) != 1 or not args[0].isdigit():
            return self.incomplete_text
        self.pager_lines = int(args[0])
        return ""

    async def cmd_show_access_list(self, args: list[str]) -> str:
        hits = rulebase.counters(self.device.spec.rulebase, self.platform)
        return rulebase.asa_access_lists(self.device.rulebase, hits, args[0] if args else None)

    def commands(self) -> CommandTable:
        extra: CommandTable = [
            (("show", "curpriv"), "cmd_show_curpriv"),
            (("terminal", "pager"), "cmd_terminal_pager"),
            (("show", "access-list"), "cmd_show_access_list"),
            (("login",), "cmd_login"),
        ]
        if self.mode == CONFIG:
            # netmiko's session preparation sends "terminal width 511" in config mode.
            extra = [*extra, (("terminal", "width"), "cmd_terminal")]
        return [*super().commands(), *extra]

    def save_commands(self) -> CommandTable:
        return [
            (("write", "memory"), "cmd_write"),
            (("write",), "cmd_write"),
            (("copy", "running-config", "startup-config"), "cmd_copy_run_start"),
        ]

    async def cmd_show_curpriv(self, args: list[str]) -> str:
        level, mode = (15, "P_PRIV") if self.mode != "user" else (1, "P_UNPR")
        if self.mode == CONFIG:
            mode = "P_CONF"
        return (
            f"Username : {self.username}\nCurrent privilege level : {level}\n"
            f"Current Mode/s : {mode}"
        )

    async def cmd_enable(self, args: list[str]) -> str:
        secret = self.device.running.enable_secret
        for _attempt in range(3):
            self.term.write("Password: ")
            answer = await self.term.read_line(echo=False)
            if answer is None:
                raise Disconnect
            # An ASA without an enable password accepts an empty one.
            if (secret is None and answer == "") or password_matches(secret, answer):
                self.mode = ENABLE
                return ""
            self.term.write("Invalid password\n")
        return "Access denied."

    async def cmd_login(self, args: list[str]) -> str:
        self.term.write("Username: ")
        name = await self.term.read_line()
        self.term.write("Password: ")
        password = await self.term.read_line(echo=False)
        if name is None or password is None:
            raise Disconnect
        user = self.device.running.users.get(name)
        if user is None or not password_matches(user.hash, password):
            return "Invalid password"
        self.username = name
        if user.privilege >= 15:
            self.mode = ENABLE
        return ""

    async def cmd_copy_run_start(self, args: list[str]) -> str:
        self.term.write("Source filename [running-config]? ")
        if await self.term.read_line() is None:
            raise Disconnect
        return self.save_result()

    def save_result(self) -> str:
        if not self.save():
            return self.save_fail_text
        return (
            "Building configuration...\n"
            "Cryptochecksum: 1f0e3a3c 8d1b9c2e 4c5d6e7f 01234567\n\n"
            "2714 bytes copied in 0.150 secs\n[OK]"
        )

    def parse_username(self, args: list[str]) -> tuple[str, str | None, int, str] | str:
        """ASA syntax: NAME password VALUE [pbkdf2|encrypted] [privilege N]."""
        if len(args) < 2:
            return self.incomplete_text
        name, rest = args[0], args[1:]
        secret: str | None = None
        privilege, i = 0, 0
        while i < len(rest):
            word = rest[i].lower()
            if word == "password" and i + 1 < len(rest):
                hashed = i + 2 < len(rest) and rest[i + 2].lower() in ("pbkdf2", "encrypted")
                secret = stored_secret(rest[i + 1], "5" if hashed else "0")
                i += 3 if hashed else 2
            elif word == "privilege" and i + 1 < len(rest) and rest[i + 1].isdigit():
                privilege, i = int(rest[i + 1]), i + 2
            elif word == "nopassword":
                i += 1
            else:
                return self.invalid("username " + " ".join(args), i + 2)
        return name, secret, privilege, ""

    async def cmd_enable_secret(self, args: list[str]) -> str:
        # "enable password P [level N] [pbkdf2|encrypted]": only the password is modelled.
        if not args:
            return self.incomplete_text
        hashed = any(a.lower() in ("pbkdf2", "encrypted") for a in args[1:])
        if self.rejects_password():
            return self.reject_text
        self.device.running.enable_secret = stored_secret(args[0], "5" if hashed else "0")
        self.changed()
        return ""

    def render_user(self, name: str, user: User) -> str:
        return f"username {name} password {user.hash} pbkdf2 privilege {user.privilege}"

    def render_config(self, config: Config) -> str:
        if self.device.rulebase:
            return self.render_rulebase(config)
        lines = [
            ": Saved",
            ":",
            ": Serial Number: JAD12345678",
            "ASA Version 9.8(4)48",
            "!",
            f"hostname {config.hostname}",
        ]
        if config.enable_secret:
            lines.append(f"enable password {config.enable_secret} pbkdf2")
        lines.extend(self.render_user(n, u) for n, u in sorted(config.users.items()))
        lines.extend(self.static_config.splitlines())
        return "\n".join(lines)

    def render_rulebase(self, config: Config) -> str:
        """The firewall's configuration with this device's hostname, enable password and
        admin accounts (the rotation's state) where ASA prints them."""
        out: list[str] = []
        admins = [self.render_user(n, u) for n, u in sorted(config.users.items())]
        for line in self.device.rulebase.splitlines():
            if line.startswith("hostname "):
                out.append(f"hostname {config.hostname}")
                if config.enable_secret:
                    out.append(f"enable password {config.enable_secret} pbkdf2")
                continue
            if line.startswith("username ") and admins:
                out.extend(admins)
                admins = []
            out.append(line)
        return "\n".join(out)

    async def cmd_show_running(self, args: list[str]) -> str:
        text = self.render_config(self.device.running)
        if self.device.rulebase:
            return rulebase.asa_running(text, args)
        if args:  # "show running-config username": only that section
            return "\n".join(ln for ln in text.splitlines() if ln.startswith(args[0]))
        return text
