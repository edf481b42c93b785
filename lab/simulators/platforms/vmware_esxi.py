"""VMware ESXi's shell: `esxcli system account list|set`, `/sbin/auto-backup.sh`.

The running /etc/shadow is lost at reboot unless auto-backup.sh saved the state archive
(ESXi does so hourly; keyturn does it right away). Faults: `reject_new_password` is the
password policy's refusal, `fail_save` an unwritable boot bank.
"""

from __future__ import annotations

from lab.simulators.shell import CommandTable, Disconnect, Shell
from lab.simulators.state import User, hash_password


class EsxiShell(Shell):
    platform = "vmware_esxi"
    pipe_commands = ()
    reject_text = (
        "Error: The specified password does not meet the password policy requirements "
        "(retry=3 min=disabled,disabled,disabled,7,7)"
    )
    save_fail_text = "Error: cannot write /bootbank/state.tgz: No space left on device"

    def banner(self) -> str:
        return "The time and date of this login have been sent to the system logs.\n\n"

    def prompt(self) -> str:
        return f"[{self.username}@{self.hostname}:~] "

    def invalid(self, line: str, word_index: int) -> str:
        return f"-sh: {line.split()[0]}: not found"

    def commands(self) -> CommandTable:
        return [
            (("esxcli", "system", "account", "list"), "cmd_list"),
            (("esxcli", "system", "account", "set"), "cmd_set"),
            (("/sbin/auto-backup.sh",), "cmd_backup"),
            (("exit",), "cmd_exit"),
        ]

    async def cmd_exit(self, args: list[str]) -> str:
        raise Disconnect

    async def cmd_list(self, args: list[str]) -> str:
        lines = ["User ID  Description", "-------  -----------"]
        for name in sorted(self.device.running.users):
            lines.append(f"{name:<8} {'Administrator' if name == 'root' else ''}".rstrip())
        return "\n".join(lines)

    async def cmd_set(self, args: list[str]) -> str:
        options = dict(zip(args[::2], args[1::2], strict=False))
        name, password = options.get("-i"), options.get("-p")
        if not name or not password or options.get("-c") != password:
            return "Error: Missing required parameter -i|--id or mismatched -p and -c"
        user = self.device.running.users.get(name)
        if user is None:
            return f"Error: The specified user {name} does not exist"
        if self.rejects_password():
            return self.reject_text
        self.device.running.users[name] = User(hash_password(password), user.privilege, user.role)
        self.changed()
        return ""

    async def cmd_backup(self, args: list[str]) -> str:
        if not self.save():
            return self.save_fail_text
        return (
            "Saving current state in /bootbank\nClock updated.\nTime: 07:00:00   Date: 11/30/2026"
        )
