"""Extreme EXOS: a numbered prompt (`host.5 # `, `* host.6 # ` while unsaved), the
interactive `configure account NAME` and `save configuration`."""

from __future__ import annotations

from lab.simulators.shell import CommandTable, Disconnect, Shell
from lab.simulators.state import User, hash_password, password_matches


class ExosShell(Shell):
    platform = "extreme_exos"
    pipe_commands = ("show",)
    reject_text = "Error: Password does not meet the configured password policy."
    save_fail_text = "Error: Failed to save configuration: no space left on the device."

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.number = 0
        self.prompting = True

    def banner(self) -> str:
        return "\nExtremeXOS\nCopyright (C) 1996-2023 Extreme Networks. All rights reserved.\n\n"

    def prompt(self) -> str:
        self.number += 1
        unsaved = self.device.running != self.device.saved()
        return f"{'* ' if unsaved else ''}{self.hostname}.{self.number} # "

    def invalid(self, line: str, word_index: int) -> str:
        return f"{self.caret(line, word_index)}\n%% Invalid input detected at '^' marker."

    def commands(self) -> CommandTable:
        return [
            (("disable", "clipaging"), "cmd_noop"),
            (("disable", "cli", "prompting"), "cmd_no_prompting"),
            (("enable", "cli", "prompting"), "cmd_prompting"),
            (("show", "accounts"), "cmd_show_accounts"),
            (("configure", "account"), "cmd_account"),
            (("save", "configuration"), "cmd_save"),
            (("exit",), "cmd_exit"),
            (("logout",), "cmd_exit"),
        ]

    async def cmd_noop(self, args: list[str]) -> str:
        return ""

    async def cmd_no_prompting(self, args: list[str]) -> str:
        self.prompting = False
        return ""

    async def cmd_prompting(self, args: list[str]) -> str:
        self.prompting = True
        return ""

    async def cmd_exit(self, args: list[str]) -> str:
        raise Disconnect

    async def cmd_show_accounts(self, args: list[str]) -> str:
        lines = ["User Name           Access LoginOK  Failed", "-" * 44]
        for name, user in sorted(self.device.running.users.items()):
            access = "R/W" if user.privilege >= 15 else "RO"
            lines.append(f"{name:<19} {access:<6} {1:>7} {0:>7}")
        return "\n".join(lines)

    async def _hidden(self, prompt: str) -> str:
        self.term.write(prompt)
        answer = await self.term.read_line(echo=False)
        if answer is None:
            raise Disconnect
        return answer

    async def cmd_account(self, args: list[str]) -> str:
        if len(args) != 1:
            return "%% Incomplete command"
        user = self.device.running.users.get(args[0])
        if user is None:
            return f"Error: Account {args[0]} does not exist."
        own = args[0] == self.username
        if own and not password_matches(user.hash, await self._hidden("Current user's password: ")):
            return "Error: Incorrect password."
        new = await self._hidden("New password: ")
        if await self._hidden("Reenter password: ") != new:
            return "Error: Passwords do not match."
        if self.rejects_password():
            return self.reject_text
        self.device.running.users[args[0]] = User(hash_password(new), user.privilege, user.role)
        self.changed()
        return ""

    async def cmd_save(self, args: list[str]) -> str:
        if self.prompting:
            question = "Do you want to save configuration to primary.cfg and overwrite it? (y/N) "
            if (await self._hidden(question)).strip().lower() not in ("y", "yes"):
                return "Save configuration cancelled."
        if not self.save():
            return self.save_fail_text
        return (
            "Saving configuration on Primary MM ......... done!\n"
            "Configuration saved to primary.cfg successfully."
        )
