"""A Linux host's shell (bash + PAM `passwd`): enough for keyturn's linux driver.

`passwd` writes /etc/shadow at once (the change is the save). An account changing its own
password is asked the current one first; root changing another account's is not. Faults:
`reject_new_password` is pam_pwquality's refusal, `fail_save` a shadow file that cannot be
written; either way nothing changes.
"""

from __future__ import annotations

from lab.simulators.shell import CommandTable, Disconnect, Shell
from lab.simulators.state import User, hash_password, password_matches

FAILED = "passwd: Authentication token manipulation error\npasswd: password unchanged"


class LinuxShell(Shell):
    platform = "linux"
    pipe_commands = ()
    reject_text = "BAD PASSWORD: The password fails the dictionary check\n" + FAILED
    save_fail_text = FAILED

    def prompt(self) -> str:
        sign = "#" if self.username == "root" else "$"
        return f"{self.username}@{self.hostname}:~{sign} "

    def invalid(self, line: str, word_index: int) -> str:
        return f"-bash: {line.split()[0]}: command not found"

    def commands(self) -> CommandTable:
        return [
            (("id",), "cmd_id"),
            (("lc_all=c", "passwd"), "cmd_passwd"),
            (("passwd",), "cmd_passwd"),
            (("exit",), "cmd_exit"),
            (("logout",), "cmd_exit"),
        ]

    async def cmd_exit(self, args: list[str]) -> str:
        raise Disconnect

    async def cmd_id(self, args: list[str]) -> str:
        names = sorted(self.device.running.users)
        name = args[-1] if args else self.username
        if name not in names:
            return f"id: '{name}': no such user"
        return str(1000 + names.index(name)) if "-u" in args else f"uid={1000 + names.index(name)}"

    async def _hidden(self, prompt: str) -> str:
        self.term.write(prompt)
        answer = await self.term.read_line(echo=False)
        if answer is None:
            raise Disconnect
        self.term.write("\n")
        return answer

    async def cmd_passwd(self, args: list[str]) -> str:
        name = args[0] if args else self.username
        if name != self.username and self.username != "root":
            return "passwd: You may not view or modify password information for " + name
        user = self.device.running.users.get(name)
        if user is None:
            return f"passwd: user '{name}' does not exist"
        if name == self.username:
            current = await self._hidden("Current password: ")
            if not password_matches(user.hash, current):
                return "passwd: Authentication token manipulation error\npasswd: password unchanged"
        new = await self._hidden("New password: ")
        if await self._hidden("Retype new password: ") != new:
            return "Sorry, passwords do not match.\npasswd: password unchanged"
        if self.rejects_password():
            return self.reject_text
        if self.faults.fail_save:
            return self.save_fail_text
        self.device.running.users[name] = User(hash_password(new), user.privilege, user.role)
        self.device.save()
        self.changed()
        return "passwd: password updated successfully"
