"""Read the certificate and protocol of a TLS service, and the web properties of HTTP ones.

One handshake per service with everything allowed (TLS 1.0 up, ``ALL:@SECLEVEL=0``, no
validation): an old appliance that speaks only TLS 1.0 with weak ciphers still shows its
certificate, and the version it agrees to is its best one (a legacy version is a finding).
Validation is not this module's job: it records what it saw and the rules judge.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import warnings
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from agent.core.scope import ScopeGuard

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
MAX_HTTP_BYTES = 65536


def _context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 on purpose
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


def probe(
    host: str,
    port: int,
    guard: ScopeGuard,
    *,
    http: bool,
    timeout: float = 3.0,
    server_name: str | None = None,
) -> dict:
    """Handshake with ``host:port``; with ``http``, also GET / over the TLS connection."""
    guard.check(host)
    result: dict = {"host": host, "port": port}
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return {**result, "error": f"connect: {exc.strerror or exc}"}
    try:
        with _context().wrap_socket(raw, server_hostname=server_name) as tls:
            result["protocol"] = tls.version()
            result["cipher"] = (tls.cipher() or (None,))[0]
            der = tls.getpeercert(binary_form=True)
            if der:
                result.update(describe(x509.load_der_x509_certificate(der)))
            if http:
                result["http"] = _http_exchange(tls, host)
    except (ssl.SSLError, OSError) as exc:
        result["error"] = f"TLS: {getattr(exc, 'reason', None) or exc}"
    finally:
        raw.close()
    return result


def http_probe(host: str, port: int, guard: ScopeGuard, timeout: float = 3.0) -> dict:
    """Plain HTTP GET /: status, server, title, redirect target, HSTS."""
    guard.check(host)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            return {"host": host, "port": port, **_http_exchange(sock, host)}
    except OSError as exc:
        return {"host": host, "port": port, "error": f"connect: {exc.strerror or exc}"}


def _http_exchange(sock: socket.socket, host: str) -> dict:
    sock.sendall(
        f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: keyturn\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    data = b""
    with contextlib.suppress(OSError, ssl.SSLError):
        while len(data) < MAX_HTTP_BYTES:
            chunk = sock.recv(8192)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers.setdefault(key.strip().lower(), value.strip())
    status = lines[0].split(" ", 2)[1] if len(lines[0].split(" ")) > 1 else None
    title = _TITLE.search(body)
    location = headers.get("location")
    return {
        "status": int(status) if status and status.isdigit() else None,
        "server": headers.get("server"),
        "title": " ".join(title.group(1).decode("utf-8", "replace").split())[:200]
        if title
        else None,
        "location": location,
        "redirects_to_https": bool(location and location.lower().startswith("https://")),
        "hsts": headers.get("strict-transport-security"),
    }


def describe(cert: x509.Certificate) -> dict:
    """The inventory fields of a certificate (no validation)."""
    sans: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound):
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [
            *ext.get_values_for_type(x509.DNSName),
            *(str(ip) for ip in ext.get_values_for_type(x509.IPAddress)),
        ]
    common_names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    algorithm = cert.signature_hash_algorithm
    return {
        "subject": cert.subject.rfc4514_string(),
        "common_name": str(common_names[0]) if common_names else None,
        "sans": sans,
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "key": _key(cert),
        "signature_hash": algorithm.name if algorithm else None,
        "self_signed": is_self_signed(cert),
    }


def is_self_signed(cert: x509.Certificate) -> bool:
    """Issuer equals subject and, when both key identifiers are present, they agree.

    Not verify_directly_issued_by: cryptography 50 raises "Unsupported signature algorithm" on
    the SHA-1 self-signed certificates old appliances ship, exactly the ones to catch."""
    if cert.issuer != cert.subject:
        return False
    try:
        aki = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
        ski = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    except x509.ExtensionNotFound:
        return True
    return aki.value.key_identifier in (None, ski.value.digest)


def _key(cert: x509.Certificate) -> dict:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return {"type": "RSA", "bits": key.key_size}
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"type": "EC", "bits": key.curve.key_size, "curve": key.curve.name}
    if isinstance(key, dsa.DSAPublicKey):
        return {"type": "DSA", "bits": key.key_size}
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return {"type": type(key).__name__.replace("PublicKey", ""), "bits": 256}
    return {"type": type(key).__name__, "bits": None}


def name_matches(names: list[str], cert: dict) -> bool:
    """Does any of ``names`` match the certificate's SANs (or CN when it has none)?"""
    patterns = [p.lower() for p in (cert.get("sans") or [cert.get("common_name") or ""]) if p]
    return any(_match(name.lower().rstrip("."), pattern) for name in names for pattern in patterns)


def _match(name: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return name == pattern


def days_left(cert: dict, now: datetime | None = None) -> float | None:
    if not cert.get("not_after"):
        return None
    end = datetime.fromisoformat(cert["not_after"])
    return (end - (now or datetime.now(UTC))).total_seconds() / 86400
