"""The CLI engine every platform shares: prompt loop, command table, pipes and faults.

A platform subclasses `Shell`, says what its prompt looks like and lists its commands
per mode as keyword tuples. Keywords match by unique-enough prefix ("sh run" ->
"show running-config") as on the real CLIs; the remaining words go to the handler.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, ClassVar

from lab.simulators.state import User, hash_password, is_crypt_hash
from lab.simulators.terminal import CTRL_C, CTRL_Z, Terminal

if TYPE_CHECKING:
    from lab.simulators.server import Device

# (keywords, name of the handler method): by name, so subclasses override handlers.
CommandTable = list[tuple[tuple[str, ...], str]]


class Disconnect(Exception):
    """The user logged out."""


class Drop(Exception):
    """The device cuts the connection (a fault or a reboot)."""


class Shell:
    """One interactive session on one device."""

    # The netmiko device_type this personality answers as (the registry's key).
    platform: ClassVar[str] = ""
    # Role given to users from the spec (NX-OS role, FortiOS accprofile, RouterOS group).
    default_role: ClassVar[str] = ""
    # Commands whose output may be piped through include/exclude/grep filters.
    pipe_commands: ClassVar[tuple[str, ...]] = ("show",)
    # Text the platform prints when a fault rejects a new password / a save.
    reject_text: ClassVar[str] = "% Password rejected by password policy"
    save_fail_text: ClassVar[str] = "% Error: could not write configuration"
    # True where fail_save already fails the change (the change is the write: Junos's
    # commit confirmed writes the configuration database too); the fault matrix reads it.
    save_fault_at_change: ClassVar[bool] = False

    def __init__(self, device: Device, term: Terminal, username: str) -> None:
        self.device = device
        self.term = term
        self.username = username
        self.mode = self.initial_mode()
        self.faults = device.faults()
        self.pipes: list[list[str]] = []
        self.current_prompt = ""

    # --- what a platform provides -------------------------------------------------
    @classmethod
    def login_name(cls, ssh_username: str) -> str:
        """The account an SSH username logs in as (RouterOS appends terminal options)."""
        return ssh_username

    def initial_mode(self) -> str:
        return "exec"

    def banner(self) -> str:
        return ""

    def prompt(self) -> str:
        raise NotImplementedError

    def commands(self) -> CommandTable:
        raise NotImplementedError

    def invalid(self, line: str, word_index: int) -> str:
        return "% Invalid input"

    def tokenize(self, line: str) -> list[str]:
        return line.split()

    async def on_control(self, char: str) -> str:
        """Ctrl-C / Ctrl-Z: abandon the line."""
        return ""

    # --- engine -------------------------------------------------------------------
    @property
    def hostname(self) -> str:
        return self.device.running.hostname

    @property
    def user(self) -> User | None:
        return self.device.running.users.get(self.username)

    async def run(self) -> None:
        self.term.write(self.banner())
        while True:
            self.current_prompt = self.prompt()
            self.term.write(self.current_prompt)
            line = await self.term.read_line()
            if line is None:
                return
            self.faults = self.device.faults()
            if self.device.apply_pending_reboot():
                return  # the reboot already cut this session
            if self.faults.slow_seconds:
                await asyncio.sleep(self.faults.slow_seconds)
            try:
                output = await self.execute(line)
            except Disconnect:
                self.term.close()
                return
            except Drop:
                self.term.abort()
                return
            if output:
                await self.write_output(output if output.endswith("\n") else output + "\n")

    async def write_output(self, output: str) -> None:
        """A command's answer in an interactive session; a platform with a pager pages it."""
        self.term.write(output)

    async def page(self, output: str, lines: int, more: str, erase: str) -> None:
        """Write ``output`` ``lines`` at a time, each page followed by the ``more`` prompt:
        space shows the next page, Enter one more line, q (or anything else) stops, and
        ``erase`` wipes the prompt, as the devices' pagers do."""
        rows = output.splitlines(keepends=True)
        shown, budget = 0, lines
        while shown < len(rows):
            chunk = rows[shown : shown + budget]
            self.term.write("".join(chunk))
            shown += len(chunk)
            if shown >= len(rows):
                return
            self.term.write(more)
            key = await self.term.read_key()
            self.term.write(erase)
            if key == " ":
                budget = lines
            elif key in ("\r", "\n"):
                budget = 1
            else:
                return

    async def run_command(self, line: str) -> None:
        """A non-interactive `ssh device COMMAND`: run it in the login mode, then close."""
        if self.device.apply_pending_reboot():
            return
        try:
            output = await self.execute(line)
        except Disconnect:
            output = ""
        except Drop:
            self.term.abort()
            return
        self.term.write(output + "\n" if output else "")
        self.term.close()

    async def execute(self, line: str) -> str:
        if line in (CTRL_C, CTRL_Z):
            return await self.on_control(line)
        line, self.pipes = self._split_pipes(line)
        words = self.tokenize(line)
        if not words:
            return ""
        table = sorted(self.commands(), key=lambda entry: -len(entry[0]))
        for keywords, handler in table:
            if _matches(words, keywords):
                before = self.device.fingerprint()
                try:
                    output = await getattr(self, handler)(words[len(keywords) :])
                finally:
                    self.device.log(handler, changed=self.device.fingerprint() != before)
                return self._filter(output)
        self.device.log("invalid", changed=False)
        return self.invalid(line, _first_mismatch(words, table))

    def _split_pipes(self, line: str) -> tuple[str, list[list[str]]]:
        first = line.split(maxsplit=1)[0].lower() if line.strip() else ""
        if not first or not any(c.startswith(first) for c in self.pipe_commands):
            return line, []
        parts = line.split("|")
        return parts[0], [p.split() for p in parts[1:] if p.split()]

    def _filter(self, output: str) -> str:
        for pipe in self.pipes:
            verb, pattern = pipe[0].lower(), " ".join(pipe[1:])
            lines = output.splitlines()
            if "include".startswith(verb) or verb in ("match", "grep"):
                lines = [ln for ln in lines if re.search(pattern, ln)]
            elif "exclude".startswith(verb) or verb == "except":
                lines = [ln for ln in lines if not re.search(pattern, ln)]
            elif "begin".startswith(verb):
                start = next((i for i, ln in enumerate(lines) if re.search(pattern, ln)), None)
                lines = [] if start is None else lines[start:]
            output = "\n".join(lines)
        return output

    # --- helpers platforms share ----------------------------------------------------
    def caret(self, line: str, word_index: int) -> str:
        """A '^' under the offending word, counted from the start of the prompt line."""
        words = line.split()
        column = len(self.current_prompt.splitlines()[-1] if self.current_prompt else "")
        offset = 0
        for i, word in enumerate(words):
            offset = line.index(word, offset)
            if i == word_index:
                break
            offset += len(word)
        return " " * (column + offset) + "^"

    def rejects_password(self) -> bool:
        return self.faults.reject_new_password

    def changed(self) -> None:
        """Called right after a password change took effect on the running device."""
        if self.faults.drop_after_change:
            raise Drop

    def save(self) -> bool:
        """Persist the running config; False (nothing written) when fail_save is set."""
        if self.faults.fail_save:
            return False
        self.device.save()
        return True


def stored_secret(value: str, encoding_type: str = "0") -> str:
    """Turn a configured secret into what the device stores: a hash either way."""
    if encoding_type != "0" or is_crypt_hash(value):
        return value
    return hash_password(value)


def _matches(words: list[str], keywords: tuple[str, ...]) -> bool:
    if len(words) < len(keywords):
        return False
    return all(kw.startswith(w.lower()) for w, kw in zip(words, keywords, strict=False))


def _first_mismatch(words: list[str], table: CommandTable) -> int:
    """Index of the first word no command accepts, for the '^' marker."""
    best = 0
    for keywords, _handler in table:
        i = 0
        while i < min(len(words), len(keywords)) and keywords[i].startswith(words[i].lower()):
            i += 1
        best = max(best, min(i, len(words) - 1))
    return best
