"""Synology DSM's shell: `id`, `sudo -S` (the password read from stdin) and
`synouser --setpw NAME PASSWORD`, which writes the user database at once."""

from __future__ import annotations

from lab.simulators.shell import CommandTable, Disconnect, Shell
from lab.simulators.state import User, hash_password, password_matches


class SynologyShell(Shell):
    platform = "synology_dsm"
    default_role = "administrators"
    pipe_commands = ()
    reject_text = "synouser set password failed: the password is too weak [0x1D00 SynoErr]"
    save_fail_text = "synouser set password failed: cannot write the user database [SynoErr]"

    def prompt(self) -> str:
        return f"{self.username}@{self.hostname}:~$ "

    def invalid(self, line: str, word_index: int) -> str:
        return f"-sh: {line.split()[0]}: command not found"

    def commands(self) -> CommandTable:
        return [
            (("id",), "cmd_id"),
            (("sudo",), "cmd_sudo"),
            (("exit",), "cmd_exit"),
        ]

    async def cmd_exit(self, args: list[str]) -> str:
        raise Disconnect

    async def cmd_id(self, args: list[str]) -> str:
        names = sorted(self.device.running.users)
        name = args[-1] if args else self.username
        if name not in names:
            return f"id: '{name}': no such user"
        return str(1024 + names.index(name))

    async def cmd_sudo(self, args: list[str]) -> str:
        options = []
        while args and args[0].startswith("-"):
            options.append(args.pop(0))
            if options[-1] == "-p" and args:
                args.pop(0)  # the prompt text
        user = self.user
        if user is None or user.role != "administrators":
            return f"{self.username} is not in the sudoers file.  This incident will be reported."
        if "-S" not in options:
            self.term.write("Password: ")
        answer = await self.term.read_line(echo=False)
        if answer is None or not password_matches(user.hash, answer):
            return "Sorry, try again.\nsudo: 1 incorrect password attempt"
        if args[:2] != ["synouser", "--setpw"] or len(args) != 4:
            return "synouser: usage: synouser --setpw username passwd"
        return self.setpw(args[2], args[3])

    def setpw(self, name: str, password: str) -> str:
        user = self.device.running.users.get(name)
        if user is None:
            return f"synouser set password failed: user {name} not found [0x1D00 SynoErr]"
        if self.rejects_password():
            return self.reject_text
        if self.faults.fail_save:
            return self.save_fail_text
        self.device.running.users[name] = User(hash_password(password), user.privilege, user.role)
        self.device.save()
        self.changed()
        return ""
