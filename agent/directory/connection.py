"""The one LDAP connection of an audit: transport, TLS, exactly one bind, paged and ranged reads.

Everything that talks to the directory goes through :class:`DirectoryConnection`; it never
sends a write (ldap3 runs with ``read_only=True``) unless opened with ``writable=True``, which
only ``keyturn ad apply``/``undo`` do, and counts every request/response round trip so the
benchmark can report them.

Windows DCs cap a search at MaxPageSize (1000) entries and a multi-valued attribute at
MaxValRange (1500) values; Samba enforces neither. So every subtree search here is paged
(``PAGE_SIZE`` <= 1000) and group members are always read with explicit ranges, which both
kinds of server honour.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from agent.core.errors import OperationFailed, UsageError
from agent.core.logsetup import get_logger
from agent.core.secret import Secret, scrub
from agent.directory.model import Entry

log = get_logger(__name__)

PAGE_SIZE = 1000
RANGE_STEP = 1500
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
# How groups are read: an explicit first range, which Samba honours as Windows does (asked
# for plain "member", Samba returns every value at once and the follow-up path never runs).
MEMBER_RANGE = f"member;range=0-{RANGE_STEP - 1}"
SD_FLAGS_OID = "1.2.840.113556.1.4.801"
_RANGE_KEY = re.compile(r"^member;range=(\d+)-(\d+|\*)$")

Transport = Literal["ldaps", "starttls", "ldap"]
BindMethod = Literal["simple", "kerberos", "ntlm"]

# LDAP result codes the audit explains (RFC 4511 4.1.9).
RESULT_SUCCESS = 0
RESULT_SIZE_LIMIT_EXCEEDED = 4
RESULT_STRONGER_AUTH_REQUIRED = 8
RESULT_CONFIDENTIALITY_REQUIRED = 13
RESULT_NO_SUCH_OBJECT = 32
RESULT_INVALID_CREDENTIALS = 49
RESULT_INSUFFICIENT_ACCESS = 50

# The "data NNN" sub-codes of a Windows invalidCredentials answer.
_AD_BIND_REASONS = {
    "52e": "wrong user name or password",
    "525": "no such user",
    "530": "logon not permitted at this time",
    "531": "logon not permitted from this workstation",
    "532": "password expired",
    "533": "account disabled",
    "701": "account expired",
    "773": "the password must be changed at next logon",
    "775": "account locked out",
}


class InsufficientRights(OperationFailed):
    """The bind account may not read what the audit needs."""


@dataclass(frozen=True)
class Endpoint:
    host: str  # the address connected to (checked against the scope by the caller)
    port: int
    transport: Transport = "ldaps"
    # Further names the certificate may carry (the DC name a DNS SRV record gave).
    tls_names: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class TlsPolicy:
    ca_file: str | None = None  # None: the system trust store
    insecure: bool = False  # no certificate validation at all (recorded in the run summary)


@dataclass(frozen=True)
class Credentials:
    user: str
    password: Secret | None = field(default=None, repr=False)
    method: BindMethod = "simple"


def default_port(transport: Transport) -> int:
    return 636 if transport == "ldaps" else 389


class DirectoryConnection:
    """An open, bound, read-only connection. Build it with :meth:`connect`."""

    def __init__(self, conn, *, page_size: int = PAGE_SIZE) -> None:
        if not 0 < page_size <= 1000:
            raise ValueError("page size must be 1..1000 (Windows' MaxPageSize)")
        self._conn = conn
        self.page_size = page_size
        self.round_trips = 0
        self.binds = 0

    @classmethod
    def connect(
        cls,
        endpoint: Endpoint,
        tls: TlsPolicy,
        credentials: Credentials,
        *,
        allow_plain: bool = False,
        timeout: float = 10.0,
        writable: bool = False,
    ) -> tuple[DirectoryConnection, Entry]:
        """Open, secure, read the rootDSE, bind once. Returns the connection and the rootDSE.

        The bind is attempted exactly once: a retry after a wrong password would move the
        account toward lockout, so a refusal is reported, never repeated.
        """
        import ldap3

        if credentials.method == "kerberos" and not endpoint.tls_names:
            raise UsageError(
                "--kerberos needs the DC's name for its service ticket (ldap/<name>): use "
                "--domain, or --server with a host name instead of an address"
            )
        if endpoint.transport == "ldap" and credentials.method == "simple" and not allow_plain:
            raise UsageError(
                "refusing a simple bind over plain LDAP (the password would cross the network "
                "in clear): use --ldaps or --starttls, or --insecure-ldap if you must"
            )
        server = ldap3.Server(
            endpoint.host,
            port=endpoint.port,
            use_ssl=endpoint.transport == "ldaps",
            tls=_tls(tls, endpoint),
            get_info=ldap3.NONE,
            connect_timeout=timeout,
        )
        conn = ldap3.Connection(
            server,
            auto_bind=ldap3.AUTO_BIND_NONE,
            read_only=not writable,
            raise_exceptions=False,
            # Needed for "member;range=..." requests: otherwise ldap3 invents an empty
            # "member;range=..." attribute when the server answers with another range.
            return_empty_attributes=False,
            # Ranges are followed here, counted, rather than silently inside ldap3.
            auto_range=False,
            receive_timeout=int(timeout),  # ldap3 packs it into a C struct: an int
            auto_referrals=False,
            **_bind_arguments(credentials, endpoint),
        )
        directory = cls(conn)
        try:
            conn.open()
            if endpoint.transport == "starttls" and not conn.start_tls():
                raise OperationFailed(f"StartTLS refused by {endpoint.label}: {_result(conn)}")
        except ldap3.core.exceptions.LDAPException as exc:
            raise _connect_error(endpoint, exc) from None
        directory.round_trips += 1 if endpoint.transport == "starttls" else 0
        root = directory.read(
            "",
            [
                "defaultNamingContext",
                "configurationNamingContext",
                "rootDomainNamingContext",
                "dnsHostName",
                "domainFunctionality",
                "forestFunctionality",
                "serverName",
                "supportedSASLMechanisms",
            ],
        )
        if root is None:
            raise OperationFailed(f"{endpoint.label} does not answer as an LDAP directory")
        directory._bind(credentials, endpoint, root)
        return directory, root

    def _bind(self, credentials: Credentials, endpoint: Endpoint, root: Entry) -> None:
        import ldap3

        if credentials.method == "simple" and not _qualified(credentials.user):
            # A bare name is not a bind name AD accepts; qualify it with the DC's own domain.
            self._conn.user = f"{credentials.user}@{dns_domain(root.text('defaultNamingContext'))}"
        try:
            self.binds += 1
            self.round_trips += 1
            ok = self._conn.bind()
        except ldap3.core.exceptions.LDAPException as exc:
            raise OperationFailed(
                f"bind as {credentials.user} at {endpoint.label} failed: {scrub(str(exc))}"
            ) from None
        except Exception as exc:
            if credentials.method != "kerberos":
                raise
            # gssapi's own errors: no ticket, unknown service principal, clock skew...
            raise OperationFailed(
                f"Kerberos bind at {endpoint.label} failed: {' '.join(str(exc).split())}"
            ) from None
        if ok:
            log.debug("bound to %s as %s", endpoint.label, credentials.user)
            return
        code = self._conn.result.get("result")
        message = self._conn.result.get("message") or ""
        if code == RESULT_INVALID_CREDENTIALS:
            reason = _AD_BIND_REASONS.get(_data_code(message), "wrong user name or password")
            raise OperationFailed(
                f"bind as {credentials.user} refused by {endpoint.label}: {reason} "
                "(one attempt made, not retried)"
            )
        if code in (RESULT_STRONGER_AUTH_REQUIRED, RESULT_CONFIDENTIALITY_REQUIRED):
            raise OperationFailed(
                f"{endpoint.label} requires a protected bind: use --ldaps or --starttls"
            )
        raise OperationFailed(
            f"bind as {credentials.user} at {endpoint.label} failed: {_result(self._conn)}"
        )

    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: Iterable[str],
        *,
        scope: str = "subtree",
        sd_flags: int | None = None,
    ) -> Iterator[Entry]:
        """Every entry matching, one page (<= ``page_size`` entries) per round trip.
        ``sd_flags``: which parts of nTSecurityDescriptor to return (the SD-flags control)."""
        cookie: bytes | None = None
        while True:
            self._request(
                base, ldap_filter, attributes, scope, paged_cookie=cookie, sd_flags=sd_flags
            )
            response = self._conn.response or []
            controls = self._conn.result.get("controls") or {}
            cookie = controls.get(PAGED_RESULTS_OID, {}).get("value", {}).get("cookie")
            yield from _entries(response)
            if not cookie:
                return

    def read(
        self, dn: str, attributes: Iterable[str], *, sd_flags: int | None = None
    ) -> Entry | None:
        """One object by DN (a base search), or None when it does not exist."""
        self._request(
            dn,
            "(objectClass=*)",
            attributes,
            "base",
            paged_cookie=None,
            paged=False,
            sd_flags=sd_flags,
        )
        entries = list(_entries(self._conn.response or []))
        return entries[0] if entries else None

    def members(self, entry: Entry) -> list[str]:
        """All ``member`` DNs of a group entry read with :data:`MEMBER_RANGE` (or plain
        ``member``), fetching the remaining ranges one request each."""
        values, end = _range_values(entry)
        while end is not None:
            following = self.read(entry.dn, [f"member;range={end + 1}-{end + RANGE_STEP}"])
            if following is None:
                raise OperationFailed(f"{entry.dn} vanished while its members were being read")
            more, end = _range_values(following)
            values += more
        return [v.decode("utf-8") for v in values]

    def modify(
        self, dn: str, changes: dict[str, list[tuple[str, list]]], *, sd_flags: int | None = None
    ) -> tuple[int, str]:
        """One modify request (all changes atomic on the server): (result code, message).
        ``changes`` maps attribute -> [("add"|"delete"|"replace", values)]."""
        import ldap3

        if self._conn.read_only:
            raise OperationFailed("this connection was opened read-only")
        operations = {"add": ldap3.MODIFY_ADD, "delete": ldap3.MODIFY_DELETE,
                      "replace": ldap3.MODIFY_REPLACE}  # fmt: skip
        request = {attr: [(operations[op], values) for op, values in ops]
                   for attr, ops in changes.items()}  # fmt: skip
        controls = None if sd_flags is None else [sd_flags_control(sd_flags)]
        self.round_trips += 1
        try:
            self._conn.modify(dn, request, controls=controls)
        except ldap3.core.exceptions.LDAPException as exc:
            return -1, scrub(str(exc))
        result = self._conn.result or {}
        return int(result.get("result", -1)), str(
            result.get("message") or result.get("description") or ""
        )

    def close(self) -> None:
        self._conn.unbind()

    def _request(
        self,
        base: str,
        ldap_filter: str,
        attributes: Iterable[str],
        scope: str,
        *,
        paged_cookie: bytes | None,
        paged: bool = True,
        sd_flags: int | None = None,
    ) -> None:
        import ldap3

        scopes = {"base": ldap3.BASE, "one": ldap3.LEVEL, "subtree": ldap3.SUBTREE}
        self.round_trips += 1
        controls = None if sd_flags is None else [sd_flags_control(sd_flags)]
        try:
            self._conn.search(
                base,
                ldap_filter,
                search_scope=scopes[scope],
                attributes=list(attributes),
                paged_size=self.page_size if paged else None,
                paged_cookie=paged_cookie if paged else None,
                controls=controls,
            )
        except ldap3.core.exceptions.LDAPException as exc:
            raise OperationFailed(f"LDAP search failed: {exc}") from None
        code = self._conn.result.get("result")
        if code in (RESULT_SUCCESS, RESULT_NO_SUCH_OBJECT):
            return
        if code == RESULT_INSUFFICIENT_ACCESS:
            raise InsufficientRights(
                f"insufficient rights: the bind account may not read {base or 'the rootDSE'}"
            )
        raise OperationFailed(f"LDAP search under {base!r} failed: {_result(self._conn)}")


def sd_flags_control(flags: int) -> tuple[str, bool, bytes]:
    """LDAP_SERVER_SD_FLAGS_OID with its BER value SEQUENCE { INTEGER flags } (flags < 128)."""
    if not 0 < flags < 0x80:
        raise ValueError("SD flags are 1..0x7f")
    return (SD_FLAGS_OID, True, bytes([0x30, 0x03, 0x02, 0x01, flags]))


def dns_domain(naming_context: str | None) -> str:
    """``DC=corp,DC=example,DC=com`` -> ``corp.example.com``."""
    parts = [p.split("=", 1)[1] for p in (naming_context or "").split(",") if "=" in p]
    return ".".join(parts)


def _entries(response: list[dict]) -> Iterator[Entry]:
    # Samba also sends continuation references from the domain root: entries only.
    for item in response:
        if item.get("type") == "searchResEntry":
            raw = {k.lower(): list(v) for k, v in item["raw_attributes"].items()}
            yield Entry(item["dn"], raw)


def _range_values(entry: Entry) -> tuple[list[bytes], int | None]:
    """The member values in ``entry`` and, if the server cut the list, the last index sent."""
    for key, values in entry.raw.items():
        match = _RANGE_KEY.match(key)
        if match:
            end = match.group(2)
            return list(values), None if end == "*" else int(end)
    return list(entry.raw.get("member", [])), None


def _qualified(user: str) -> bool:
    return any(mark in user for mark in ("@", "\\", "="))


def _data_code(message: str) -> str:
    match = re.search(r"data ([0-9a-f]{3})", message)
    return match.group(1) if match else ""


def _result(conn) -> str:
    result = conn.result or {}
    return f"{result.get('description', 'error')} {result.get('message', '')}".strip()


def _tls(policy: TlsPolicy, endpoint: Endpoint):
    import ldap3

    if endpoint.transport == "ldap":
        return None
    if policy.ca_file and not _readable(policy.ca_file):
        raise UsageError(f"--ca-file {policy.ca_file}: cannot read it")
    return ldap3.Tls(
        validate=ssl.CERT_NONE if policy.insecure else ssl.CERT_REQUIRED,
        ca_certs_file=policy.ca_file,
        valid_names=list(endpoint.tls_names) or None,
        version=ssl.PROTOCOL_TLS_CLIENT,
    )


def _readable(path: str) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False


def _bind_arguments(credentials: Credentials, endpoint: Endpoint) -> dict:
    import ldap3

    if credentials.method == "kerberos":
        try:
            import gssapi  # noqa: F401
        except ImportError:
            raise UsageError(
                "--kerberos needs the gssapi package: pip install 'keyturn[kerberos]'"
            ) from None
        # The service ticket is for ldap/<DC name>: an address is no Kerberos principal.
        target = endpoint.tls_names[0] if endpoint.tls_names else None
        return {
            "authentication": ldap3.SASL,
            "sasl_mechanism": ldap3.KERBEROS,
            "sasl_credentials": (target,),
        }
    if credentials.password is None:
        raise UsageError(f"no password for {credentials.user}")
    method = ldap3.NTLM if credentials.method == "ntlm" else ldap3.SIMPLE
    # ldap3 needs the clear value; it lives only in the connection object and the wire.
    return {
        "user": credentials.user,
        "password": credentials.password.reveal(),
        "authentication": method,
    }


def _connect_error(endpoint: Endpoint, exc: Exception) -> OperationFailed:
    """One line that says which check failed: reachability, CA trust, name, or handshake."""
    text = str(exc)
    lowered = text.lower()
    where = endpoint.label
    if "doesn't match" in lowered or "mismatch" in lowered:
        names = ", ".join((endpoint.host, *endpoint.tls_names))
        return OperationFailed(
            f"TLS to {where}: name mismatch: the certificate does not name {names}"
        )
    if "certificate_verify_failed" in lowered or "certificate verify failed" in lowered:
        if "expired" in lowered:
            return OperationFailed(f"TLS to {where}: the certificate has expired")
        return OperationFailed(
            f"TLS to {where}: certificate not trusted (unknown CA): pass --ca-file with the "
            "domain's CA certificate, or --tls-insecure to skip validation"
        )
    if "ssl" in lowered or "tls" in lowered or "handshake" in lowered:
        return OperationFailed(
            f"TLS handshake with {where} failed (is that port speaking "
            f"{'LDAPS' if endpoint.transport == 'ldaps' else 'StartTLS'}?)"
        )
    if "refused" in lowered:
        return OperationFailed(f"cannot reach the DC at {where}: connection refused")
    if "timed out" in lowered or "timeout" in lowered:
        return OperationFailed(f"cannot reach the DC at {where}: timed out")
    return OperationFailed(f"cannot reach the DC at {where}: {scrub(text)}")
