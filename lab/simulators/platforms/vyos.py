"""VyOS 1.3 and its Vyatta sibling EdgeOS: `configure`, `set ...`, `commit`, `save`.

Each configuration session edits its own candidate; `commit` makes it running, `save`
writes /config/config.boot (the saved config a reboot loads). `commit-confirm N` commits
and asks `Proceed? [confirm]`; unless `confirm` follows within N minutes the device
reboots, which brings back the saved config. Faults: `reject_new_password` fails the
commit the way `system login`'s checks do, `fail_save` fails `save`.
"""

from __future__ import annotations

import shlex

from lab.simulators.shell import CommandTable, Disconnect, Shell, stored_secret
from lab.simulators.state import Config, User, hash_password

OPER, CONFIG = "oper", "config"


class VyosShell(Shell):
    platform = "vyos"
    pipe_commands = ("show",)
    reject_text = (
        "[ system login ]\nPassword is too weak: it is based on a dictionary word\n\n"
        "[[system login]] failed\nCommit failed"
    )
    save_fail_text = (
        "Saving configuration to '/config/config.boot'...\n"
        "Error: cannot write /config/config.boot: No space left on device"
    )
    version_line = "Version:          VyOS 1.3.8"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.candidate: Config | None = None

    def initial_mode(self) -> str:
        return OPER

    def banner(self) -> str:
        return "Welcome to VyOS!\n\n"

    def prompt(self) -> str:
        if self.mode == CONFIG:
            return f"[edit]\n{self.username}@{self.hostname}# "
        return f"{self.username}@{self.hostname}:~$ "

    def tokenize(self, line: str) -> list[str]:
        try:
            return shlex.split(line)
        except ValueError:
            return line.split()

    def invalid(self, line: str, word_index: int) -> str:
        if self.mode == CONFIG:
            return f"\n  Configuration path: [{line.strip()}] is not valid\n  Set failed\n"
        return f"\n  Invalid command: [{line.split()[0]}]\n"

    def commands(self) -> CommandTable:
        if self.mode == OPER:
            return [
                (("set", "terminal"), "cmd_noop"),
                (("terminal",), "cmd_noop"),
                (("show", "version"), "cmd_show_version"),
                (("show", "configuration", "commands"), "cmd_show_commands"),
                (("configure",), "cmd_configure"),
                (("exit",), "cmd_logout"),
                (("logout",), "cmd_logout"),
            ]
        return [
            (("set", "system", "login", "user"), "cmd_set_user"),
            (("set", "system", "host-name"), "cmd_set_hostname"),
            (("show", "system", "login"), "cmd_show_login"),
            # `commit` first: the engine matches by prefix, and "commit" prefixes both.
            (("commit",), "cmd_commit"),
            (("commit-confirm",), "cmd_commit_confirm"),
            (("confirm",), "cmd_confirm"),
            (("compare",), "cmd_compare"),
            (("discard",), "cmd_discard"),
            (("save",), "cmd_save"),
            (("exit", "discard"), "cmd_exit_discard"),
            (("exit",), "cmd_exit"),
            (("run",), "cmd_run"),
        ]

    # --- operational ------------------------------------------------------------------
    async def cmd_noop(self, args: list[str]) -> str:
        return ""

    async def cmd_logout(self, args: list[str]) -> str:
        raise Disconnect

    async def cmd_show_version(self, args: list[str]) -> str:
        return f"{self.version_line}\nRelease train:    equuleus"

    async def cmd_show_commands(self, args: list[str]) -> str:
        return "\n".join(_commands(self.device.running))

    async def cmd_configure(self, args: list[str]) -> str:
        self.mode = CONFIG
        return ""

    # --- configuration ----------------------------------------------------------------
    @property
    def edit(self) -> Config:
        if self.candidate is None:
            self.candidate = self.device.running.copy()
        return self.candidate

    def modified(self) -> bool:
        return self.candidate is not None and self.candidate != self.device.running

    async def cmd_run(self, args: list[str]) -> str:
        self.mode = OPER
        try:
            return await self.execute(shlex.join(args))
        finally:
            self.mode = CONFIG

    async def cmd_set_hostname(self, args: list[str]) -> str:
        if len(args) != 1:
            return "\n  Configuration path: [system host-name] requires a value\n  Set failed\n"
        self.edit.hostname = args[0]
        return ""

    async def cmd_set_user(self, args: list[str]) -> str:
        if len(args) == 4 and args[1:3] == ["authentication", "plaintext-password"]:
            new_hash = hash_password(args[3])
        elif len(args) == 4 and args[1:3] == ["authentication", "encrypted-password"]:
            new_hash = stored_secret(args[3], "5")
        else:
            path = " ".join(["system", "login", "user", *args])
            return f"\n  Configuration path: [{path}] is not valid\n  Set failed\n"
        existing = self.edit.users.get(args[0])
        self.edit.users[args[0]] = User(new_hash, 15, existing.role if existing else "")
        return ""

    async def cmd_show_login(self, args: list[str]) -> str:
        lines = []
        for name, user in sorted(self.edit.users.items()):
            lines += [
                f" user {name} {{",
                "     authentication {",
                f"         encrypted-password {user.hash}",
                "     }",
                " }",
            ]
        return "\n".join(lines)

    async def cmd_compare(self, args: list[str]) -> str:
        old, new = _commands(self.device.running), _commands(self.edit)
        return (
            "\n".join(
                [*(f"-{c}" for c in old if c not in new), *(f"+{c}" for c in new if c not in old)]
            )
            or "No changes"
        )

    async def cmd_discard(self, args: list[str]) -> str:
        self.candidate = None
        return "  Changes have been discarded"

    def _commit(self) -> str | None:
        """Make the candidate running; the error text when `system login` refuses it."""
        if not self.modified():
            return "No configuration changes to commit"
        assert self.candidate is not None
        passwords = {n: u.hash for n, u in self.device.running.users.items()}
        if self.rejects_password() and any(
            passwords.get(n) != u.hash for n, u in self.candidate.users.items()
        ):
            return self.reject_text
        self.device.running, self.candidate = self.candidate, None
        if passwords != {n: u.hash for n, u in self.device.running.users.items()}:
            self.changed()
        return None

    async def cmd_commit(self, args: list[str]) -> str:
        if args and args[0] != "comment":
            return self.invalid("commit " + " ".join(args), 1)
        return self._commit() or ""

    async def cmd_commit_confirm(self, args: list[str]) -> str:
        minutes = int(args[0]) if args and args[0].isdigit() else 10
        if not self.modified():
            return "No configuration changes to commit"
        self.term.write(
            f"commit confirm will be automatically reboot in {minutes} minutes unless "
            "confirmed\nProceed? [confirm]"
        )
        answer = await self.term.read_line()
        if answer is None:
            raise Disconnect
        if answer.strip().lower() not in ("", "y", "yes"):
            return "commit-confirm canceled"
        # Armed before the commit: a session cut by drop_after_change leaves it running.
        self.device.arm_revert(minutes)
        error = self._commit()
        if error:
            self.device.disarm_revert()
        return error or ""

    async def cmd_confirm(self, args: list[str]) -> str:
        if not self.device.disarm_revert():
            return "No confirmation required"
        return ""

    async def cmd_save(self, args: list[str]) -> str:
        if not self.save():
            return self.save_fail_text
        warning = "Warning: you have uncommitted changes that will not be saved.\n"
        saving = "Saving configuration to '/config/config.boot'...\nDone"
        return (warning if self.modified() else "") + saving

    async def cmd_exit(self, args: list[str]) -> str:
        if self.modified():
            return (
                "Cannot exit: configuration modified.\n"
                "Use 'exit discard' to discard the changes and exit."
            )
        self.mode = OPER
        return "exit"

    async def cmd_exit_discard(self, args: list[str]) -> str:
        self.candidate = None
        self.mode = OPER
        return "exit"


class EdgeRouterShell(VyosShell):
    """EdgeOS: the Vyatta CLI of VyOS (`terminal length 0`, not `set terminal`)."""

    platform = "ubiquiti_edgerouter"
    version_line = "Version:      v2.0.9-hotfix.7"

    def banner(self) -> str:
        return "Welcome to EdgeOS\n\nBy logging in, accessing, or using the Ubiquiti product\n"


def _commands(config: Config) -> list[str]:
    lines = [f"set system host-name '{config.hostname}'"]
    for name, user in sorted(config.users.items()):
        lines.append(
            f"set system login user {name} authentication encrypted-password '{user.hash}'"
        )
    return lines
