"""Palo Alto PAN-OS: `set mgt-config users NAME password` asks for it twice; `commit` runs
a job whose progress the CLI prints, and the new password is live only once it finished.

The commit writes running-config.xml (it is the save). Faults: `reject_new_password` is the
commit's validation error, `fail_save` a commit job that fails; either way the candidate
keeps the edit until `revert config`.
"""

from __future__ import annotations

import asyncio

from lab.simulators.shell import CommandTable, Disconnect, Shell
from lab.simulators.state import Config, User, hash_password

OPER, CONFIG = "oper", "config"


class PanosShell(Shell):
    platform = "paloalto_panos"
    default_role = "superuser"
    pipe_commands = ("show",)
    reject_text = (
        "Validation Error:\n mgt-config -> users -> {name} -> password  "
        "Password must contain at least 1 special character\n mgt-config is invalid"
    )
    save_fail_text = "Error: could not save running-config.xml: disk full"
    jobs = 0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.candidate: Config | None = None

    def initial_mode(self) -> str:
        return OPER

    def prompt(self) -> str:
        if self.mode == CONFIG:
            return f"[edit]\n{self.username}@{self.hostname}# "
        return f"{self.username}@{self.hostname}> "

    def invalid(self, line: str, word_index: int) -> str:
        if self.mode == OPER:
            return f"Unknown command: {line.split()[word_index]}\nInvalid syntax."
        return "Invalid syntax."

    def commands(self) -> CommandTable:
        if self.mode == OPER:
            return [
                (("set", "cli"), "cmd_set_cli"),
                (("show", "system", "info"), "cmd_system_info"),
                (("configure",), "cmd_configure"),
                (("exit",), "cmd_quit"),
                (("quit",), "cmd_quit"),
            ]
        return [
            (("set", "mgt-config", "users"), "cmd_set_user"),
            (("show", "mgt-config", "users"), "cmd_show_users"),
            (("commit",), "cmd_commit"),
            (("revert", "config"), "cmd_revert"),
            (("exit",), "cmd_exit"),
            (("quit",), "cmd_exit"),
        ]

    async def cmd_set_cli(self, args: list[str]) -> str:
        return f"{' '.join(args[:1])} mode on" if args[:1] == ["scripting-mode"] else ""

    async def cmd_system_info(self, args: list[str]) -> str:
        return (
            f"hostname: {self.hostname}\nip-address: 198.18.0.2\nmodel: PA-VM\n"
            "sw-version: 10.2.4\noperational-mode: normal"
        )

    async def cmd_quit(self, args: list[str]) -> str:
        raise Disconnect

    async def cmd_configure(self, args: list[str]) -> str:
        self.mode = CONFIG
        return "Entering configuration mode"

    @property
    def edit(self) -> Config:
        if self.candidate is None:
            self.candidate = self.device.running.copy()
        return self.candidate

    async def _hidden(self, prompt: str) -> str:
        self.term.write(prompt)
        answer = await self.term.read_line(echo=False)
        if answer is None:
            raise Disconnect
        return answer

    async def cmd_set_user(self, args: list[str]) -> str:
        if len(args) != 2 or args[1] != "password":
            return "Invalid syntax."
        first = await self._hidden("Enter password   : ")
        if await self._hidden("Confirm password : ") != first:
            return "\nPasswords do not match"
        existing = self.edit.users.get(args[0])
        role = existing.role if existing else self.default_role
        self.edit.users[args[0]] = User(hash_password(first), 15, role)
        return ""

    async def cmd_show_users(self, args: list[str]) -> str:
        lines = ["users {"]
        for name, user in sorted(self.edit.users.items()):
            if args and args[0] != name:
                continue
            lines += [
                f"  {name} {{",
                f"    phash {user.hash};",
                f"    permissions {{ role-based {{ {user.role} yes; }} }}",
                "  }",
            ]
        return "\n".join([*lines, "}"])

    async def cmd_revert(self, args: list[str]) -> str:
        self.candidate = None
        return "Candidate configuration reverted"

    async def cmd_exit(self, args: list[str]) -> str:
        self.mode = OPER
        return ""

    async def cmd_commit(self, args: list[str]) -> str:
        PanosShell.jobs += 1
        self.term.write(
            f"Commit job {self.jobs} is in progress. Use Ctrl+C to return to command prompt\n"
        )
        # The job takes a while; the running config changes only when it is done.
        for percent in (0, 55, 100):
            await asyncio.sleep(0.2)
            self.term.write(f"{'.' * 8}{percent}%")
        self.term.write("\n")
        if self.candidate is None or self.candidate == self.device.running:
            return "There are no changes to commit."
        before = {n: u.hash for n, u in self.device.running.users.items()}
        changed = [n for n, u in self.candidate.users.items() if before.get(n) != u.hash]
        if changed and self.rejects_password():
            return self.reject_text.format(name=changed[0]) + "\nCommit failed"
        if self.faults.fail_save:
            return self.save_fail_text + "\nCommit failed"
        self.device.running, self.candidate = self.candidate, None
        self.device.save()
        if changed:
            self.changed()
        return "Configuration committed successfully"
