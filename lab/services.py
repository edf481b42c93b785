"""One process that answers every simple lab service in every host namespace.

``python -m lab.services --spec SPEC.json`` opens each listener inside its host's namespace
(``lab.netns.inside`` switches only the opening thread; the socket stays in that namespace) and
serves them all from one asyncio loop: ~30 hosts cost one process instead of ~80. Answers are
what a scanner expects from the device: an HTTP page with the device's <title> and Server
header, a PJL reply on 9100, an X.224 connection confirm on 3389 (to a connection request only,
as Windows does: anything else is hung up on), a SIP 200 OK on 5060/udp. SMB on 445 waits for
a request and hangs up on it, as Windows 10 and later do on the SMB1 negotiation scanners send
(SMB1 removed; this listener speaks no SMB2), except on the hosts where a real smbd serves it
(lab/smb_host.py); those get their NetBIOS name answered on 137/udp here. Port 22 (only the
large lab's TCP phantoms list it; real hosts run sshd) greets as OpenSSH.

Prints ``ready`` to its log once every listener is open.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import sys
from pathlib import Path

from lab import netns

# RDP negotiation response (TPKT + X.224 CC + RDP_NEG_RSP selecting CredSSP, flags 0x1f as
# Windows 10 and Server 2016+ set them: nmap's Microsoft Terminal Services signature).
RDP_CONFIRM = bytes.fromhex("030000130ed00000123400021f080002000000")


def _open(ns: str, ip: str, port: int, kind: int) -> socket.socket:
    with netns.inside(ns):
        sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((ip, port))
    if kind == socket.SOCK_STREAM:
        sock.listen(64)
    sock.setblocking(False)
    return sock


def _http_handler(title: str, server: str):
    body = (
        f"<!DOCTYPE html><html><head><title>{title}</title></head>"
        f"<body><h1>{title}</h1></body></html>"
    ).encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            request = await asyncio.wait_for(reader.readline(), 10)
            while await asyncio.wait_for(reader.readline(), 10) not in (b"\r\n", b"\n", b""):
                pass  # headers: every request gets the same page
            head = (
                f"HTTP/1.1 200 OK\r\nServer: {server}\r\nContent-Type: text/html\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            writer.write(head if request.startswith(b"HEAD") else head + body)
            await writer.drain()
        writer.close()

    return handle


def _printer_handler(model: str):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await asyncio.wait_for(reader.read(4096), 30):
                if b"@PJL INFO ID" in data:
                    writer.write(f'@PJL INFO ID\r\n"{model}"\r\n\x0c'.encode())
                    await writer.drain()
        writer.close()

    return handle


def _x224_connection_request(data: bytes) -> bool:
    # TPKT version 3, then an X.224 TPDU whose code (high nibble) is CR, 0xE.
    return len(data) >= 11 and data[:2] == b"\x03\x00" and data[5] >> 4 == 0xE


async def _rdp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        if _x224_connection_request(await asyncio.wait_for(reader.read(4096), 10)):
            writer.write(RDP_CONFIRM)
            await writer.drain()
            await asyncio.wait_for(reader.read(4096), 10)
    writer.close()


SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"


async def _ssh_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An OpenSSH greeting, then silence until the client hangs up (as sshd before kex)."""
    with contextlib.suppress(Exception):
        writer.write(SSH_BANNER)
        await writer.drain()
        await asyncio.wait_for(reader.read(4096), 10)
    writer.close()


async def _hang_up_on_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(reader.read(4096), 30)
    writer.close()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        while await asyncio.wait_for(reader.read(4096), 30):
            pass
    writer.close()


class _Sip(asyncio.DatagramProtocol):
    """Answers any SIP request with 200 OK, echoing the dialog headers as a phone would."""

    def __init__(self, agent: str) -> None:
        self.agent = agent

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        lines = data.decode("latin-1").split("\r\n")
        if not lines or " SIP/2.0" not in lines[0]:
            return
        keep = [
            ln
            for ln in lines[1:]
            if ln.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")
        ]
        reply = "\r\n".join(
            [
                "SIP/2.0 200 OK",
                *keep,
                f"User-Agent: {self.agent}",
                "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, MESSAGE, NOTIFY",
                "Content-Length: 0",
                "",
                "",
            ]
        )
        self.transport.sendto(reply.encode(), addr)


class _Nbstat(asyncio.DatagramProtocol):
    """Answers a NetBIOS node status query (RFC 1002 4.2.18, what nmap's nbstat script and
    Windows' nbtstat -A send) with the host's name, as a Windows host's nmbd would."""

    def __init__(self, name: str, mac: str) -> None:
        self.name, self.mac = name.upper()[:15], bytes.fromhex(mac.replace(":", ""))

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        # Header (12 bytes), the queried name (34), type NBSTAT (0x21) and class IN.
        if len(data) < 50 or data[46:50] != b"\x00\x21\x00\x01":
            return
        names = [(self.name, 0x00, 0x0400), (self.name, 0x20, 0x0400),
                 ("WORKGROUP", 0x00, 0x8400)]  # fmt: skip
        rdata = bytes([len(names)]) + b"".join(
            n.ljust(15).encode("ascii") + bytes([suffix]) + flags.to_bytes(2, "big")
            for n, suffix, flags in names
        )
        rdata += self.mac + bytes(40)  # statistics: the unit ID, then counters
        answer = data[:2] + bytes.fromhex("84000000000100000000") + data[12:46]
        answer += b"\x00\x21\x00\x01" + bytes(4) + len(rdata).to_bytes(2, "big") + rdata
        self.transport.sendto(answer, addr)


async def serve(hosts: list[dict]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    servers = []
    for host in hosts:
        ns, ip, title = host["netns"], host["ip"], host.get("http_title") or host["name"]
        for port in host.get("tcp", []):
            handler = {
                80: _http_handler(title, host.get("http_server", "lighttpd")),
                9100: _printer_handler(title),
                3389: _rdp,
                445: _hang_up_on_request,
                22: _ssh_banner,
            }.get(port, _silent)
            sock = _open(ns, ip, port, socket.SOCK_STREAM)
            servers.append(await asyncio.start_server(handler, sock=sock))
        for _port in host.get("udp", []):
            sock = _open(ns, ip, _port, socket.SOCK_DGRAM)
            agent = f"{title} UA/5.9.7"
            await loop.create_datagram_endpoint(lambda a=agent: _Sip(a), sock=sock)
        if host.get("netbios"):
            sock = _open(ns, ip, 137, socket.SOCK_DGRAM)
            name, mac = host["netbios"], host["mac"]
            await loop.create_datagram_endpoint(lambda n=name, m=mac: _Nbstat(n, m), sock=sock)
    print("ready", flush=True)
    await stop.wait()
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.services", description=__doc__)
    parser.add_argument("--spec", type=Path, required=True)
    args = parser.parse_args()
    hosts = json.loads(args.spec.read_text())
    try:
        asyncio.run(serve(hosts))
    except OSError as exc:
        print(f"lab services: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
