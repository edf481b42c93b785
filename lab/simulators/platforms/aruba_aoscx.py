"""Aruba AOS-CX: `no page`, `user NAME group G password plaintext P`, `write memory`."""

from __future__ import annotations

from lab.simulators.platforms.cisco import CiscoShell
from lab.simulators.shell import CommandTable, stored_secret
from lab.simulators.state import Config, User


class ArubaAoscxShell(CiscoShell):
    platform = "aruba_aoscx"
    default_role = "administrators"
    reject_text = "Password does not meet the complexity requirements."
    save_fail_text = "Copying configuration: [Failed]\nNo space left on the device."

    def invalid(self, line: str, word_index: int) -> str:
        return f"Invalid input: {line.split()[word_index]}"

    def commands(self) -> CommandTable:
        if self.mode == "config":
            return [(("user",), "cmd_user"), (("end",), "cmd_end"), (("exit",), "cmd_end")]
        return [*super().commands(), (("no", "page"), "cmd_noop")]

    def save_result(self) -> str:
        return "Copying configuration: [Success]" if self.save() else self.save_fail_text

    async def cmd_user(self, args: list[str]) -> str:
        if len(args) != 6 or args[1] != "group" or args[3:5] != ["password", "plaintext"]:
            return "% Command incomplete."
        if self.rejects_password():
            return self.reject_text
        self.device.running.users[args[0]] = User(stored_secret(args[5]), 15, args[2])
        self.changed()
        return ""

    def render_config(self, config: Config) -> str:
        lines = [
            "Current configuration:",
            "!",
            "!Version ArubaOS-CX GL.10.10.1010",
            "!",
            f"hostname {config.hostname}",
        ]
        for name, user in sorted(config.users.items()):
            group = user.role or self.default_role
            lines.append(f"user {name} group {group} password ciphertext {user.hash}")
        return "\n".join([*lines, "!"])
