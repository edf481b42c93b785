"""Huawei VRP: `<host>` user view, `[host]` system view, `[host-aaa]`; `local-user NAME
password irreversible-cipher P` in the aaa view; `save` asks before writing."""

from __future__ import annotations

from lab.simulators.shell import CommandTable, Disconnect, Shell, stored_secret
from lab.simulators.state import User
from lab.simulators.terminal import CTRL_Z

USER, SYSTEM, AAA = "user", "system", "aaa"


class HuaweiShell(Shell):
    platform = "huawei"
    pipe_commands = ("display",)
    reject_text = "Error: The password does not meet the complexity requirements."
    save_fail_text = "Error: Failed to save the configuration: the flash is full."

    def initial_mode(self) -> str:
        return USER

    def banner(self) -> str:
        return "Info: The max number of VTY users is 5, the number of current VTY users is 1.\n"

    def prompt(self) -> str:
        return {
            USER: f"<{self.hostname}>",
            SYSTEM: f"[{self.hostname}]",
            AAA: f"[{self.hostname}-aaa]",
        }[self.mode]

    def invalid(self, line: str, word_index: int) -> str:
        return f"{self.caret(line, word_index)}\nError: Unrecognized command found at '^' position."

    async def on_control(self, char: str) -> str:
        if char == CTRL_Z:
            self.mode = USER
        return ""

    def commands(self) -> CommandTable:
        table: CommandTable = [(("return",), "cmd_return"), (("quit",), "cmd_quit")]
        if self.mode == USER:
            return [
                *table,
                (("screen-length", "0", "temporary"), "cmd_screen_length"),
                (("display", "current-configuration"), "cmd_display"),
                (("system-view",), "cmd_system_view"),
                (("save",), "cmd_save"),
            ]
        if self.mode == SYSTEM:
            return [*table, (("aaa",), "cmd_aaa"), (("sysname",), "cmd_sysname")]
        return [*table, (("local-user",), "cmd_local_user")]

    async def cmd_screen_length(self, args: list[str]) -> str:
        return "Info: The configuration takes effect on the current user terminal interface only."

    async def cmd_display(self, args: list[str]) -> str:
        lines = ["#", f"sysname {self.hostname}", "#", "aaa"]
        for name, user in sorted(self.device.running.users.items()):
            lines += [
                f" local-user {name} password irreversible-cipher {user.hash}",
                f" local-user {name} privilege level {user.privilege}",
                f" local-user {name} service-type ssh",
            ]
        return "\n".join([*lines, "#", "return"])

    async def cmd_system_view(self, args: list[str]) -> str:
        self.mode = SYSTEM
        return "Enter system view, return user view with Ctrl+Z."

    async def cmd_aaa(self, args: list[str]) -> str:
        self.mode = AAA
        return ""

    async def cmd_sysname(self, args: list[str]) -> str:
        self.device.running.hostname = args[0] if args else self.hostname
        return ""

    async def cmd_return(self, args: list[str]) -> str:
        self.mode = USER
        return ""

    async def cmd_quit(self, args: list[str]) -> str:
        if self.mode == USER:
            raise Disconnect
        self.mode = SYSTEM if self.mode == AAA else USER
        return ""

    async def cmd_local_user(self, args: list[str]) -> str:
        if len(args) != 4 or args[1:3] != ["password", "irreversible-cipher"]:
            return "Error: Incomplete command found at '^' position."
        if self.rejects_password():
            return self.reject_text
        existing = self.device.running.users.get(args[0])
        self.device.running.users[args[0]] = User(
            stored_secret(args[3]), existing.privilege if existing else 15
        )
        self.changed()
        return ""

    async def cmd_save(self, args: list[str]) -> str:
        self.term.write(
            "The current configuration will be written to the device.\n"
            "Are you sure to continue?[Y/N]"
        )
        answer = await self.term.read_line()
        if answer is None:
            raise Disconnect
        if answer.strip().lower() != "y":
            return "Info: The operation is canceled."
        if not self.save():
            return self.save_fail_text
        return (
            "It will take several minutes to save configuration file, please wait...\n"
            "Configuration file had been saved successfully\n"
            "Note: The configuration file will take effect after being activated"
        )
