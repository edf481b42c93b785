"""Arista EOS: IOS-like syntax, lands in `>`, its own terminal and save messages."""

from __future__ import annotations

from lab.simulators.platforms.cisco import CiscoShell
from lab.simulators.shell import CommandTable
from lab.simulators.state import Config, User


class AristaEosShell(CiscoShell):
    platform = "arista_eos"
    privileged_login = False
    enable_without_secret = True
    bad_secret_text = "% Access denied"
    invalid_text = "% Invalid input"
    incomplete_text = "% Incomplete command"
    config_banner = ""
    reject_text = "% Password does not satisfy the password policy"
    save_fail_text = (
        "% Error copying system:/running-config to flash:/startup-config (No space left on device)"
    )
    version_text = (
        "Arista vEOS-lab\nHardware version:\nSerial number: 5A1B2C3D4E5F\n"
        "System MAC address:  5000.00d7.ee0b\n\nSoftware image version: 4.30.1F\n"
        "Architecture: x86_64\nUptime: 3 weeks, 2 days, 4 hours and 1 minute"
    )
    static_config = "interface Ethernet1\n   no switchport\n!"

    def invalid(self, line: str, word_index: int) -> str:
        return self.invalid_text

    def commands(self) -> CommandTable:
        extra: CommandTable = []
        if self.mode != "config":
            extra = [
                (("terminal", "length"), "cmd_terminal_length"),
                (("terminal", "width"), "cmd_terminal_width"),
            ]
        else:
            extra = [(("configure",), "cmd_noop")]
        table = [*extra, *super().commands()]
        if self.mode == "enable":
            table.append((("configure",), "cmd_configure"))
        return table

    async def cmd_terminal_length(self, args: list[str]) -> str:
        return "Pagination disabled."

    async def cmd_terminal_width(self, args: list[str]) -> str:
        return f"Width set to {args[0] if args else 511} columns."

    def save_result(self) -> str:
        if not self.save():
            return self.save_fail_text
        return "Copy completed successfully."

    async def cmd_copy_run_start(self, args: list[str]) -> str:
        return self.save_result()

    def render_user(self, name: str, user: User) -> str:
        return (
            f"username {name} privilege {user.privilege} role network-admin "
            f"secret sha512 {user.hash}"
        )

    def render_config(self, config: Config) -> str:
        text = super().render_config(config)
        return text.replace(
            "Building configuration...\n\nCurrent configuration : 1024 bytes\n",
            "! Command: show running-config\n! device: "
            f"{config.hostname} (vEOS-lab, EOS-4.30.1F)\n",
        )
