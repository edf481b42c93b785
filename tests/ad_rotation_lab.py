"""A real Samba AD DC for the rotation tests, reached through a fault-injecting LDAPS proxy.

The DC runs in a namespace of its own (198.18.250.10, the cached snapshot's address) with
``old password allowed period = 0``, so an old password is refused as soon as it is reset
(Samba's default keeps it valid for 60 minutes). Each pool "device" is one domain account
(kt-ad-N, password OLD) behind its own proxy on a loopback address: the driver under test
talks LDAPS to the proxy, which terminates TLS with a throwaway certificate and relays every
LDAP message to the DC over a socket opened inside the DC's namespace. The proxy reads each
message's operation and applies the same fault switches as the SSH simulators: refuse binds
(invalidCredentials), reject the password modify (constraintViolation, also standing for a
failed save: a reset is its own save), or pass the modify and drop the connection before its
answer. It keeps the devices' command log. Checks of "this password logs in" bind directly
to the DC, never through the proxy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
from pathlib import Path

import ldap3

from agent.core.secret import Secret
from lab import netns, samba_dc
from tests.xdist_worker import worker_index

DC_IP = "198.18.250.10"
BIND_ACCOUNT = "Administrator"
BIND_BER = 0x60
MODIFY_BER = 0x66
MODIFY_RESPONSE_BER = 0x67
CONSTRAINT_VIOLATION = 19


def _self_signed(directory: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keyturn test LDAPS proxy")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    (directory / "proxy.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "proxy.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "proxy.pem", directory / "proxy.key")
    return context


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """One BER-encoded LDAPMessage (SEQUENCE, definite length)."""
    head = await reader.readexactly(2)
    length = head[1]
    extra = b""
    if length & 0x80:
        extra = await reader.readexactly(length & 0x7F)
        length = int.from_bytes(extra, "big")
    return head + extra + await reader.readexactly(length)


def _split(message: bytes) -> tuple[bytes, int]:
    """(the messageID TLV, the protocolOp tag) of an LDAPMessage."""
    offset = 2 + (message[1] & 0x7F if message[1] & 0x80 else 0)
    id_length = message[offset + 1]
    msgid = message[offset : offset + 2 + id_length]
    return msgid, message[offset + 2 + id_length]


def _response(msgid: bytes, op: int, code: int) -> bytes:
    body = bytes([0x0A, 0x01, code, 0x04, 0x00, 0x04, 0x00])
    inner = msgid + bytes([op, len(body)]) + body
    return bytes([0x30, len(inner)]) + inner


class FaultProxy:
    """One listening address; faults and the command log are this device's."""

    def __init__(self, lab: AdLab, host: str) -> None:
        self.lab, self.host = lab, host
        self.faults: dict[str, bool] = {}
        self.log: list[tuple[str, bool]] = []
        self.listener = socket.socket()
        self.listener.bind((host, 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        asyncio.run_coroutine_threadsafe(self._serve(), lab.loop).result(10)

    async def _serve(self) -> None:
        self.server = await asyncio.start_server(
            self._client, sock=self.listener, ssl=self.lab.server_tls
        )

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(
            sock=self.lab.upstream_socket(), ssl=self.lab.client_tls, server_hostname="dc1"
        )
        drop = asyncio.Event()

        async def downstream() -> None:
            while True:
                message = await _read_message(up_reader)
                if drop.is_set() and _split(message)[1] == MODIFY_RESPONSE_BER:
                    writer.transport.abort()  # the change is made; its answer never arrives
                    return
                writer.write(message)
                await writer.drain()

        relay = asyncio.create_task(downstream())
        try:
            while True:
                message = await _read_message(reader)
                msgid, op = _split(message)
                if op == BIND_BER and self.faults.get("refuse_login"):
                    self.log.append(("login_refused", False))
                    writer.write(_response(msgid, 0x61, 49))
                    continue
                if op == MODIFY_BER and (
                    self.faults.get("reject_new_password") or self.faults.get("fail_save")
                ):
                    self.log.append(("change", False))
                    writer.write(_response(msgid, MODIFY_RESPONSE_BER, CONSTRAINT_VIOLATION))
                    continue
                if op == BIND_BER:
                    self.log.append(("login", False))
                elif op == MODIFY_BER:
                    self.log.append(("change", True))
                    if self.faults.get("drop_after_change"):
                        drop.set()
                up_writer.write(message)
                await up_writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            relay.cancel()
            writer.transport.abort()
            up_writer.transport.abort()


class AdLab:
    """The DC, its accounts and the proxies' event loop; started on first use."""

    def __init__(self, old: str) -> None:
        self.old = old
        # Each test module's pool has its own DC: the name must differ within one process.
        self.ns = f"kt-adrot-{secrets.token_hex(3)}"
        self.workdir = Path(tempfile.mkdtemp(prefix="kt-adr-", dir="/tmp"))
        self.proc = None
        netns.create(self.ns)
        netns.add_veth(self.ns, "dc0", "dc0peer", self.ns, address=f"{DC_IP}/24")
        self.info = samba_dc.provision(
            self.workdir / "dc", ip=DC_IP, admin_password=samba_dc._password()
        )
        with open(self.info.smb_conf, "a", encoding="utf-8") as conf:
            # The file ends in a share section: a second [global] is how Samba takes a
            # global option appended later.
            conf.write("\n[global]\n\told password allowed period = 0\n")
        self.proc = samba_dc.start(self.info, self.ns)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server_tls = _self_signed(self.workdir)
        self.client_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.client_tls.check_hostname = False
        self.client_tls.verify_mode = ssl.CERT_NONE
        self.accounts = 0
        self.proxies: list[FaultProxy] = []
        self.admin = self.connect(BIND_ACCOUNT, self.info.admin_password.reveal())
        assert self.admin is not None, "the DC refused its own Administrator"
        self.base_dn = self.info.base_dn

    @property
    def admin_password(self) -> Secret:
        return self.info.admin_password

    def upstream_socket(self) -> socket.socket:
        with netns.inside(self.ns):
            sock = socket.create_connection((DC_IP, 636), timeout=10)
        sock.setblocking(False)
        return sock

    def connect(self, user: str, password: str) -> ldap3.Connection | None:
        """A direct LDAPS bind to the DC (not through a proxy): None when refused."""
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(self.info.ca_file))
        server = ldap3.Server(DC_IP, port=636, use_ssl=True, tls=tls, get_info=ldap3.NONE)
        conn = ldap3.Connection(server, user=f"{user}@{self.info.realm.lower()}", password=password)
        with netns.inside(self.ns):
            conn.open()
        if not conn.bind():
            conn.unbind()
            return None
        return conn

    def login_works(self, user: str, password: str) -> bool:
        conn = self.connect(user, password)
        if conn is None:
            return False
        conn.unbind()
        return True

    def add_account(self, name: str, password: str, **attributes) -> str:
        dn = f"CN={name},CN=Users,{self.base_dn}"
        ok = self.admin.add(
            dn,
            ["top", "person", "organizationalPerson", "user"],
            {"sAMAccountName": name, **attributes},
        )
        assert ok, self.admin.result
        encoded = f'"{password}"'.encode("utf-16-le")
        assert self.admin.modify(dn, {"unicodePwd": [(ldap3.MODIFY_REPLACE, [encoded])]}), (
            self.admin.result
        )
        assert self.admin.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [512])]})
        return dn

    def attribute(self, name: str, attribute: str):
        from ldap3.utils.conv import escape_filter_chars

        self.admin.search(
            self.base_dn,
            f"(sAMAccountName={escape_filter_chars(name)})",
            attributes=[attribute],
        )
        return self.admin.entries[0][attribute].value

    async def _shutdown(self) -> None:
        for proxy in self.proxies:
            proxy.server.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def new_device(self) -> tuple[str, str, int, FaultProxy]:
        self.accounts += 1
        name = f"kt-ad-{self.accounts}"
        self.add_account(name, self.old)
        host = f"127.6.{worker_index() * 64 + self.accounts // 250}.{self.accounts % 250 + 1}"
        proxy = FaultProxy(self, host)
        self.proxies.append(proxy)
        return name, host, proxy.port, proxy

    def stop(self) -> None:
        # Close the proxies and finish their relays inside the loop, then stop it: no
        # coroutine is left to be collected by a closed loop.
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
        if self.proc is not None:
            samba_dc.stop(self.proc)
        netns.delete(self.ns)
        shutil.rmtree(self.workdir, ignore_errors=True)
