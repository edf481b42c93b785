"""Raw terminal I/O for one SSH session, with device-style echo.

asyncssh runs with line_editor=False, so every byte the client types arrives here and
nothing is echoed unless we echo it - like a device's own CLI.
"""

from __future__ import annotations

import asyncssh

_BACKSPACE = ("\x08", "\x7f")
CTRL_C = "\x03"
CTRL_Z = "\x1a"


class Terminal:
    def __init__(self, process: asyncssh.SSHServerProcess) -> None:
        self._process = process
        self._pending = ""
        # A "\r\n" pair is one Enter; remember the "\r" so the "\n" is not a second one.
        self._after_cr = False

    def write(self, text: str) -> None:
        if not text or self._process.is_closing():
            return
        # Devices send CRLF line ends; normalise whatever the platform code produced.
        self._process.stdout.write(text.replace("\r\n", "\n").replace("\n", "\r\n"))

    async def read_line(self, echo: bool = True) -> str | None:
        """Read up to Enter; None when the client went away. Ctrl-C/Ctrl-Z end the line."""
        line = ""
        # Echo a whole received chunk in one packet, as a device's tty driver would.
        echoed = ""
        while True:
            if not self._pending:
                self.write(echoed)
                echoed = ""
                try:
                    chunk = await self._process.stdin.read(4096)
                except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
                    continue
                except (asyncssh.DisconnectError, ConnectionError):
                    return None
                if not chunk:
                    return None
                self._pending = chunk
            char, self._pending = self._pending[0], self._pending[1:]
            if char == "\n" and self._after_cr:
                self._after_cr = False
                continue
            self._after_cr = char == "\r"
            if char in ("\r", "\n", CTRL_C, CTRL_Z):
                self.write(echoed + "\r\n")
                return char if char in (CTRL_C, CTRL_Z) else line
            if char in _BACKSPACE:
                if line:
                    line = line[:-1]
                    echoed += "\x08 \x08" if echo else ""
            elif char.isprintable():
                line += char
                echoed += char if echo else ""

    async def read_key(self) -> str | None:
        """One key, unechoed (a pager's "--More--" answer); None when the client went away."""
        if not self._pending:
            try:
                chunk = await self._process.stdin.read(4096)
            except (asyncssh.DisconnectError, ConnectionError, asyncssh.BreakReceived):
                return None
            except asyncssh.TerminalSizeChanged:
                return await self.read_key()
            if not chunk:
                return None
            self._pending = chunk
        char, self._pending = self._pending[0], self._pending[1:]
        # The "\n" of a "\r\n" Enter belongs to the same key press.
        if char == "\r" and self._pending.startswith("\n"):
            self._pending = self._pending[1:]
        return char

    def close(self) -> None:
        self._process.exit(0)

    def abort(self) -> None:
        """Cut the TCP connection without an SSH goodbye, like a device that fell over."""
        self._process.channel.get_connection().abort()
