"""Dell OS10: `username NAME password P role R`, silent copy to startup-configuration."""

from __future__ import annotations

from lab.simulators.platforms.cisco import CiscoShell
from lab.simulators.shell import CommandTable, stored_secret
from lab.simulators.state import Config, User


class DellOs10Shell(CiscoShell):
    platform = "dell_os10"
    default_role = "sysadmin"
    reject_text = "% Error: Password does not meet the password complexity requirements."
    save_fail_text = "% Error: Failed to copy: no space left on device."

    def banner(self) -> str:
        return "Dell SmartFabric OS10 Enterprise\n\n"

    def invalid(self, line: str, word_index: int) -> str:
        return "% Error: Unrecognized command."

    def commands(self) -> CommandTable:
        if self.mode == "config":
            return [
                (("username",), "cmd_username"),
                (("end",), "cmd_end"),
                (("exit",), "cmd_end"),
            ]
        return [
            *super().commands(),
            (("show", "running-configuration"), "cmd_show_running"),
        ]

    def save_commands(self) -> CommandTable:
        return [
            (("copy", "running-configuration", "startup-configuration"), "cmd_copy"),
            (("write", "memory"), "cmd_copy"),
        ]

    async def cmd_copy(self, args: list[str]) -> str:
        return "" if self.save() else self.save_fail_text

    async def cmd_username(self, args: list[str]) -> str:
        if len(args) < 5 or args[1] != "password" or args[3] != "role":
            return "% Error: Incomplete command."
        if self.rejects_password():
            return self.reject_text
        existing = self.device.running.users.get(args[0])
        privilege = existing.privilege if existing else 1
        self.device.running.users[args[0]] = User(stored_secret(args[2]), privilege, args[4])
        self.changed()
        return ""

    def render_config(self, config: Config) -> str:
        lines = ["! Version 10.5.4.2", "!", f"hostname {config.hostname}"]
        for name, user in sorted(config.users.items()):
            role = user.role or self.default_role
            lines.append(f"username {name} password {user.hash} role {role} priv-lvl 15")
        return "\n".join([*lines, "!"])
