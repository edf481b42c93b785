"""HP ProCurve / Aruba AOS-S: a "Press any key" banner, `no page`, `password manager
user-name NAME plaintext P`, silent `write memory`, and `logout` asking to confirm."""

from __future__ import annotations

from lab.simulators.platforms.cisco import CiscoShell
from lab.simulators.shell import CommandTable, Disconnect, stored_secret
from lab.simulators.state import Config, User


class ProcurveShell(CiscoShell):
    platform = "hp_procurve"
    config_banner = ""
    reject_text = "Password must contain at least 1 upper case and 1 special character."
    save_fail_text = "Error: Unable to write the configuration to flash: no space left."

    async def run(self) -> None:
        self.term.write(
            "HP J9773A 2530-24G-PoEP Switch\nSoftware revision YA.16.10.0003\n\n"
            "(C) Copyright 2020 Hewlett Packard Enterprise Development LP\n\n"
            "Press any key to continue\n"
        )
        if await self.term.read_line() is None:
            return
        await super().run()

    def banner(self) -> str:
        return ""

    def invalid(self, line: str, word_index: int) -> str:
        return f"Invalid input: {line.split()[word_index]}"

    def commands(self) -> CommandTable:
        if self.mode == "config":
            return [
                (("password",), "cmd_password"),
                (("end",), "cmd_end"),
                (("exit",), "cmd_end"),
            ]
        return [
            *super().commands(),
            (("no", "page"), "cmd_noop"),
            (("logout",), "cmd_logout"),
        ]

    async def cmd_logout(self, args: list[str]) -> str:
        self.term.write("Do you want to log out [y/n]? ")
        await self.term.read_line()
        raise Disconnect

    async def cmd_password(self, args: list[str]) -> str:
        # password (manager|operator) user-name NAME plaintext VALUE
        if (
            len(args) != 5
            or args[0] not in ("manager", "operator")
            or args[1:4:2]
            != [
                "user-name",
                "plaintext",
            ]
        ):
            return self.invalid("password " + " ".join(args), min(len(args), 4))
        if self.rejects_password():
            return self.reject_text
        level = 15 if args[0] == "manager" else 1
        name = args[2]
        users = self.device.running.users
        # One manager and one operator: the level's previous name goes.
        for other in [n for n, u in users.items() if u.privilege == level and n != name]:
            del users[other]
        users[name] = User(stored_secret(args[4]), level)
        self.changed()
        return ""

    def save_result(self) -> str:
        return "" if self.save() else self.save_fail_text

    def render_config(self, config: Config) -> str:
        lines = [
            "; J9773A Configuration Editor; Created on release #YA.16.10.0003",
            "",
            f'hostname "{config.hostname}"',
            "include-credentials",
        ]
        for name, user in sorted(config.users.items()):
            level = "manager" if user.privilege >= 15 else "operator"
            lines.append(f'password {level} user-name "{name}" sha1 "{user.hash}"')
        return "\n".join(lines)
