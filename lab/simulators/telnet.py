"""A telnet listener for a simulated device: IOS-style `login local`, then the same shell.

Only what netmiko's telnet driver (and keyturn's fresh-login check) need: the server offers
no option, refuses every option the client offers (RFC 854/1143: WILL -> DONT, DO -> WONT,
refusals are not answered, so negotiation cannot loop), drops the rest of the IAC commands
(netmiko sends IAC NOP as a keepalive) and echoes what is typed, as IOS does, except the
password.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lab.simulators.terminal import Terminal

if TYPE_CHECKING:
    from lab.simulators.server import Device

log = logging.getLogger(__name__)

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
# IOS closes the line after this many failed logins.
MAX_ATTEMPTS = 3


class TelnetProcess:
    """The part of asyncssh's SSHServerProcess that Terminal and Shell use, over a telnet
    stream: ``stdin.read``, ``stdout.write``, ``is_closing``, ``exit``, an abort."""

    command = None

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.stdin = self.stdout = self.channel = self
        self.username = ""
        # Where an IAC sequence split across two reads left off: "" (data), "iac", a verb
        # byte awaiting its option, "sb" or "sb-iac" (inside a subnegotiation).
        self._state: Any = ""

    async def read(self, size: int) -> str:
        """Up to ``size`` characters of data, IAC commands removed; "" at end of stream."""
        while True:
            raw = await self._reader.read(size)
            if not raw:
                return ""
            data = self._strip(raw)
            if data:
                return data.decode("utf-8", "replace")

    def _strip(self, raw: bytes) -> bytes:
        data = bytearray()
        for byte in raw:
            state = self._state
            if state == "":
                if byte == IAC:
                    self._state = "iac"
                else:
                    data.append(byte)
            elif state == "iac":
                if byte == IAC:
                    data.append(IAC)  # an escaped 0xFF data byte
                    self._state = ""
                elif byte in (WILL, WONT, DO, DONT):
                    self._state = byte
                elif byte == SB:
                    self._state = "sb"
                else:
                    self._state = ""  # NOP, GA, AYT...: nothing to do
            elif state == "sb":
                self._state = "sb-iac" if byte == IAC else "sb"
            elif state == "sb-iac":
                self._state = "" if byte == SE else "sb"
            else:
                # The option of a negotiation: refuse what is offered or asked for.
                if state == WILL:
                    self._writer.write(bytes((IAC, DONT, byte)))
                elif state == DO:
                    self._writer.write(bytes((IAC, WONT, byte)))
                self._state = ""
        return bytes(data)

    def write(self, text: str) -> None:
        # A literal 0xFF in output would start a telnet command: double it.
        self._writer.write(text.encode("utf-8").replace(b"\xff", b"\xff\xff"))

    def is_closing(self) -> bool:
        return self._writer.is_closing()

    def exit(self, code: int = 0) -> None:
        self._writer.close()

    def get_connection(self) -> TelnetProcess:
        return self

    def abort(self) -> None:
        self._writer.transport.abort()

    def get_extra_info(self, name: str) -> str | None:
        return self.username if name == "username" else None


async def _login(device: Device, term: Terminal, process: TelnetProcess) -> str | None:
    """IOS `login local`: the account that logged in, or None (refused thrice, or gone)."""
    term.write("\r\nUser Access Verification\r\n\r\n")
    for _ in range(MAX_ATTEMPTS):
        term.write("Username: ")
        username = await term.read_line()
        if username is None:
            return None
        term.write("Password: ")
        password = await term.read_line(echo=False)
        if password is None:
            return None
        device.apply_pending_reboot()
        login = device.shell_class.login_name(username)
        ok = not device.faults().refuse_login and device.login_ok(login, password)
        device.log("login" if ok else "login_refused", changed=False)
        if ok:
            return login
        term.write("% Login invalid\r\n\r\n")
    return None


async def serve_telnet(device: Device, port: int) -> asyncio.Server:
    """Listen on the device's address, ``port`` (23 on a real device)."""
    from lab.simulators.server import run_shell

    host, _ = device.spec.host_port

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        process = TelnetProcess(reader, writer)
        term = Terminal(process)  # type: ignore[arg-type]  # duck-typed SSHServerProcess
        try:
            username = await _login(device, term, process)
            if username is not None:
                process.username = username
                await run_shell(device, term, username, process)
        except ConnectionError:
            pass  # the client went away mid-login
        finally:
            if not writer.is_closing():
                writer.close()

    return await asyncio.start_server(handle, host, port, reuse_address=True)
