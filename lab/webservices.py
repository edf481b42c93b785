"""The lab's web side: HTTPS, LDAPS-like and plain HTTP listeners with chosen certificates and
protocol versions, and a small RDAP server, all from one asyncio process.

``python -m lab.webservices --spec SPEC.json`` opens each listener inside its host's namespace
(as ``lab.services`` does) and prints ``ready`` once all are open. A listener is one of:

- ``https``: TLS, then one HTTP answer (title, optional HSTS header);
- ``tls``: TLS, then silence (an LDAPS or IMAPS port whose certificate is what matters);
- ``http``: plain HTTP, either a page or a 301 to ``redirect``;
- ``rdap``: plain HTTP answering ``/domain/<name>`` with the RDAP JSON in ``rdap``.

``min_tls``/``max_tls`` ("1.0" ... "1.3") and ``legacy`` (OpenSSL ``ALL:@SECLEVEL=0``, needed
for TLS 1.0 and for a 1024-bit/SHA-1 certificate to load at all) shape old appliances.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import ssl
import sys
import warnings
from pathlib import Path

from lab import netns

_VERSIONS = {"1.0": "TLSv1", "1.1": "TLSv1_1", "1.2": "TLSv1_2", "1.3": "TLSv1_3"}


def _context(spec: dict) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 is the point here
        if spec.get("legacy"):
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        if spec.get("min_tls"):
            ctx.minimum_version = getattr(ssl.TLSVersion, _VERSIONS[spec["min_tls"]])
        if spec.get("max_tls"):
            ctx.maximum_version = getattr(ssl.TLSVersion, _VERSIONS[spec["max_tls"]])
    ctx.load_cert_chain(spec["cert"], spec["key"])
    return ctx


def _http(spec: dict):
    title = spec.get("title", "lab")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            request = await asyncio.wait_for(reader.readline(), 10)
            while await asyncio.wait_for(reader.readline(), 10) not in (b"\r\n", b"\n", b""):
                pass
            path = request.split(b" ")[1].decode("latin-1") if b" " in request else "/"
            status, headers, body = "200 OK", [], b""
            if spec["kind"] == "rdap":
                name = path.rstrip("/").rsplit("/", 1)[-1].lower()
                answer = spec["rdap"].get(name)
                status = "200 OK" if answer else "404 Not Found"
                body = json.dumps(answer or {"errorCode": 404, "title": "not found"}).encode()
                headers.append("Content-Type: application/rdap+json")
            elif spec.get("redirect"):
                status = "301 Moved Permanently"
                headers.append(f"Location: {spec['redirect']}")
            else:
                body = f"<html><head><title>{title}</title></head><body></body></html>".encode()
                headers.append("Content-Type: text/html")
            if spec.get("hsts"):
                headers.append("Strict-Transport-Security: max-age=31536000")
            head = "\r\n".join(
                [
                    f"HTTP/1.1 {status}",
                    f"Server: {spec.get('server', 'nginx')}",
                    *headers,
                    f"Content-Length: {len(body)}",
                    "Connection: close",
                    "",
                    "",
                ]
            )
            writer.write(head.encode() + body)
            await writer.drain()
        writer.close()

    return handle


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        while await asyncio.wait_for(reader.read(4096), 30):
            pass
    writer.close()


async def serve(listeners: list[dict]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    servers = []
    for spec in listeners:
        with netns.inside(spec["netns"]):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((spec["ip"], spec["port"]))
        sock.listen(64)
        sock.setblocking(False)
        tls = _context(spec) if spec["kind"] in ("https", "tls") else None
        handler = _silent if spec["kind"] == "tls" else _http(spec)
        # A failed handshake (a scanner probing SSLv3) must not end the listener.
        extra = {"ssl": tls, "ssl_handshake_timeout": 10} if tls else {}
        servers.append(await asyncio.start_server(handler, sock=sock, **extra))
    loop.set_exception_handler(lambda _loop, _context: None)
    print("ready", flush=True)
    await stop.wait()
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.webservices", description=__doc__)
    parser.add_argument("--spec", type=Path, required=True)
    args = parser.parse_args()
    try:
        asyncio.run(serve(json.loads(args.spec.read_text())))
    except (OSError, ssl.SSLError) as exc:
        print(f"lab webservices: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
