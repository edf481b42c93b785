"""Kind ``ad``: a domain account's password, reset over LDAPS by the ``[ad]`` bind account.

Target: ``host``/``port`` = the DC (LDAPS 636; 389 only with StartTLS, never plain LDAP),
``username`` = the sAMAccountName rotated, ``login`` = the bind account (UPN, DOMAIN\\user or
a sAMAccountName qualified with the DC's own DNS domain). The change is a ``unicodePwd``
replace (an administrative reset, no old password needed); an account that signs in as
itself (``login`` = its own name) and may not reset its own password changes it instead
(delete the old value, add the new: only its old password is needed); verification is a fresh LDAPS
connection to the same DC with one simple bind per candidate (the old one first, so
``old_password_refused`` is observed, then the new one). The DC's TLS certificate is pinned
on first contact (SHA-256 of the DER) like an SSH host key: a different certificate refuses
the DC before any bind. krbtgt, computer (DC) accounts and managed service accounts are
refused: the KDC key belongs to directory remediation and managed accounts rotate themselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from agent.core.errors import UsageError
from agent.core.identifiers import DIRECTORY_ACCOUNT, check_username
from agent.core.secret import Secret
from rotation.contract import (
    ChangeRejected,
    ConnectionLost,
    CredentialMissing,
    Driver,
    DriverError,
    LoginRefused,
    PeerIdentity,
    PeerRejected,
    Target,
    UnsafeValue,
    check_secret,
)
from rotation.drivers import ldap_sessions as sessions
from rotation.policy import PasswordPolicy

# LDAP result codes the driver decides by (RFC 4511).
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS = 50
NO_SUCH_OBJECT = 32
# userAccountControl bits and well-known RIDs that mark accounts keyturn never resets.
UAC_SERVER_TRUST = 0x2000  # a domain controller's machine account
UAC_WORKSTATION_TRUST = 0x1000
KRBTGT_RID = 502
MANAGED_CLASSES = {"msds-groupmanagedserviceaccount", "msds-managedserviceaccount"}
# Domain pwdProperties bit: DOMAIN_PASSWORD_COMPLEX.
PWD_COMPLEX = 0x1
ACCOUNT_ATTRIBUTES = [
    "objectClass",
    "objectSid",
    "userAccountControl",
    "displayName",
    "msDS-ResultantPSO",
    "servicePrincipalName",
]
# sAMAccountName: 20 characters, none of "/\\[]:;|=,+*?<>@ or white space.
SAM_ACCOUNT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._$-]{0,19}")
_PIN_LOCK = threading.Lock()
# (host, port) -> the identity the last connection checked against the pin.
_SEEN: dict[tuple[str, int], PeerIdentity] = {}


class AccountRefused(DriverError):
    """The account exists but keyturn must not reset it (krbtgt, a DC, a managed account)."""


def refusal_for_name(name: str) -> str | None:
    """Why an account name is never rotated as kind ``ad`` (before any connection)."""
    sam = name.rsplit("\\", 1)[-1].split("@", 1)[0]
    if sam.lower() == "krbtgt":
        return "krbtgt is rotated by the directory remediation work (twice, with replication)"
    if sam.endswith("$"):
        return "computer and managed service accounts (name ending in $) rotate themselves"
    return None


def refusal_for_entry(attrs: dict[str, Any]) -> str | None:
    """Why the directory object found must not be reset, from its attributes."""
    classes = {str(c).lower() for c in attrs.get("objectClass") or []}
    if classes & MANAGED_CLASSES:
        return "a (group) managed service account: the DC rotates its password itself"
    uac = int(_one(attrs.get("userAccountControl")) or 0)
    if uac & UAC_SERVER_TRUST:
        return "a domain controller's machine account: never reset by keyturn"
    if uac & UAC_WORKSTATION_TRUST or "computer" in classes:
        return "a computer account: it rotates its own password"
    sid = _one(attrs.get("objectSid")) or ""
    if isinstance(sid, bytes):  # no schema loaded: the binary SID as the DC sent it
        from ldap3.protocol.formatters.formatters import format_sid

        sid = format_sid(sid)
    if sid.rsplit("-", 1)[-1] == str(KRBTGT_RID):
        return "krbtgt (RID 502) is rotated by the directory remediation work"
    return None


def complexity_refusal(value: str, sam: str, display: str) -> str | None:
    """AD's "passwords must meet complexity requirements": three of four classes and no
    sAMAccountName or displayName token (3+ characters) inside, case-insensitively."""
    classes = [
        any(c.islower() for c in value),
        any(c.isupper() for c in value),
        any(c.isdigit() for c in value),
        any(not c.isalnum() for c in value),
    ]
    if sum(classes) < 3:
        return "fewer than three character classes"
    lowered = value.lower()
    if len(sam) > 2 and sam.lower() in lowered:
        return "it contains the account name"
    for token in re.split(r"[,.\-_#\s\t]+", display):
        if len(token) >= 3 and token.lower() in lowered:
            return "it contains part of the display name"
    return None


class AdDriver(Driver):
    platform = "ad"
    needs_save = False  # a reset is replicated and persistent as soon as the DC answers
    identity_check = "tls"
    open_proves_rotated = False  # the bind account opens the session, not the rotated one
    username_grammar = DIRECTORY_ACCOUNT
    # Generated at 24 characters with every class: above any default domain minimum (7-14)
    # and complex by construction; the domain's own policy is checked again before sending.
    policy: ClassVar[PasswordPolicy] = PasswordPolicy(min_length=16, max_length=128)

    def __init__(self, target: Target, env: Any) -> None:
        super().__init__(target, env)
        self.conn: Any = None
        self.dns_domain = ""
        self.base_dn = ""
        self.account_dn: str | None = None
        self.account_attrs: dict[str, Any] = {}
        self.min_length = 0
        self.complex = False
        self.identity: PeerIdentity | None = None

    @classmethod
    def check_target(cls, target: Target) -> None:
        # The rotated account is a sAMAccountName (20 characters at most); the bind account
        # may also be a UPN or DOMAIN\name.
        super().check_target(replace(target, login=None))
        try:
            check_username(target.username, "username", SAM_ACCOUNT)
            if target.login:
                check_username(target.login, "login", DIRECTORY_ACCOUNT)
        except UsageError as exc:
            raise UnsafeValue(f"{target.host}: {exc}") from None
        reason = refusal_for_name(target.username)
        if reason:
            raise UnsafeValue(f"{target.username}: refused: {reason}")

    # -- transport ---------------------------------------------------------------------------
    def _connect(self) -> Any:
        """A TLS-protected LDAP connection (LDAPS, or StartTLS on 389), the peer's
        certificate checked against the pin, the rootDSE read; no bind yet."""
        import ssl

        import ldap3

        t = self.target
        starttls = t.port == 389
        tls = ldap3.Tls(validate=ssl.CERT_NONE)  # identity = the pinned certificate
        server = ldap3.Server(
            t.host,
            port=t.port,
            use_ssl=not starttls,
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=self.env.timeout,
        )
        conn = ldap3.Connection(
            server,
            authentication=ldap3.SIMPLE,
            auto_bind=ldap3.AUTO_BIND_NONE,
            raise_exceptions=False,
            # ldap3 packs it into SO_RCVTIMEO as whole seconds.
            receive_timeout=max(1, round(self.env.timeout)),
            read_only=False,
        )
        try:
            conn.open()
            # Whatever the flags say, no password crosses an unencrypted channel.
            if starttls and not conn.start_tls():
                raise ConnectionLost(f"{t.host}: StartTLS refused; plain LDAP is never used")
            if not getattr(conn.socket, "getpeercert", None):
                raise ConnectionLost(f"{t.host}: the connection is not TLS-protected")
            self.identity = self._check_pin(conn.socket.getpeercert(binary_form=True))
            _SEEN[(t.host, t.port)] = PeerIdentity(self.identity.fingerprint, first_contact=False)
            naming = sessions.naming_context(t.host, t.port)
            if naming is None:
                conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["defaultNamingContext"])
                response = (conn.response or [{}])[0]
                naming = response.get("attributes", {}).get("defaultNamingContext")
        except DriverError:
            conn.unbind()
            raise
        except Exception as exc:
            conn.unbind()
            raise ConnectionLost(f"{t.host}:{t.port}: {type(exc).__name__}: {exc}") from None
        if not naming:
            conn.unbind()
            raise ConnectionLost(f"{t.host}: the rootDSE names no defaultNamingContext")
        self._naming(str(naming[0] if isinstance(naming, list) else naming))
        return conn

    def _naming(self, base_dn: str) -> None:
        sessions.remember_naming_context(self.target.host, self.target.port, base_dn)
        self.base_dn = base_dn
        self.dns_domain = ".".join(
            part.split("=", 1)[1] for part in self.base_dn.split(",") if "=" in part
        ).lower()

    def _pin_file(self) -> Path | None:
        pins = self.env.pins
        return Path(f"{pins.path}.tls") if pins is not None else None

    def _check_pin(self, der: bytes | None) -> PeerIdentity:
        if not der:
            raise PeerRejected(f"{self.target.host}: the DC sent no certificate")
        fingerprint = hashlib.sha256(der).hexdigest()
        name = f"{self.target.host}:{self.target.port}"
        path = self._pin_file()
        if path is None:
            return PeerIdentity(fingerprint, first_contact=False)
        with _PIN_LOCK:
            pins = _read_pins(path)
            if name not in pins:
                _append_pin(path, name, fingerprint)
                return PeerIdentity(fingerprint, first_contact=True)
        if pins[name] != fingerprint:
            raise PeerRejected(
                f"{self.target.host}: the DC's TLS certificate differs from the pinned one "
                f"(now SHA256 {fingerprint[:16]}..., pinned {pins[name][:16]}...)"
            )
        return PeerIdentity(fingerprint, first_contact=False)

    def _bind_name(self, user: str) -> str:
        if "@" in user or "\\" in user:
            return user
        return f"{user}@{self.dns_domain}"

    def _bind(self, conn: Any, user: str, password: Secret) -> None:
        """One simple bind; LoginRefused on invalid credentials (never retried)."""
        conn.user, conn.password = self._bind_name(user), password.reveal()
        try:
            ok = conn.bind()
        except Exception as exc:
            raise ConnectionLost(f"{self.target.host}: bind: {type(exc).__name__}: {exc}") from None
        finally:
            conn.password = None
        if ok:
            return
        code = (conn.result or {}).get("result")
        if code == INVALID_CREDENTIALS:
            raise LoginRefused(f"{self.target.host}: bind as {user} refused")
        raise ConnectionLost(f"{self.target.host}: bind as {user}: {_describe(conn)}")

    # -- the verbs ---------------------------------------------------------------------------
    def preflight(self) -> PeerIdentity:
        # Pin checked, nothing sent: the connection waits for the open that follows.
        t = self.target
        if self._reusable and self.identity_seen and sessions.waiting(t.host, t.port, t.login_user):
            return self.identity_seen  # the parked session's TLS peer was checked on opening
        sessions.park(t.host, t.port, "", self._connect())
        return self.identity

    @property
    def identity_seen(self) -> PeerIdentity | None:
        return _SEEN.get((self.target.host, self.target.port))

    @property
    def _reusable(self) -> bool:
        """The bind account's session may serve the next account (never its own reset)."""
        return self.target.login_user != self.target.username

    def open(self, rotated: Secret) -> None:
        t = self.target
        if self._reusable:
            self.conn = sessions.take(t.host, t.port, t.login_user)
            if self.conn is not None:
                self._naming(sessions.naming_context(t.host, t.port) or "")
                return
        secret = rotated if not self._reusable else self.stored(t.login_user)
        if secret is None:
            raise CredentialMissing(f"no stored password for the bind account {t.login_user}")
        self.conn = sessions.take(t.host, t.port, "")
        if self.conn is not None:
            self._naming(sessions.naming_context(t.host, t.port) or "")
        else:
            self.conn = self._connect()
        self._bind(self.conn, t.login_user, secret)

    def close(self) -> None:
        if self.conn is None:
            return
        t = self.target
        if self._reusable and self.alive:
            sessions.park(t.host, t.port, t.login_user, self.conn)
        else:
            # The session is being dropped anyway; a dead socket must not mask the result.
            with contextlib.suppress(Exception):
                self.conn.unbind()
            if not self._reusable:  # the bind account's own password changed
                sessions.forget(t.host, t.port, t.login_user)
        self.conn = None

    @property
    def alive(self) -> bool:
        return self.conn is not None and not self.conn.closed and self.conn.bound

    def _search(self, base: str, flt: str, scope: str, attributes: list[str]) -> list[dict]:
        try:
            self.conn.search(base, flt, scope, attributes=attributes)
        except Exception as exc:
            raise ConnectionLost(f"{self.target.host}: search: {exc}") from None
        return [e for e in self.conn.response or [] if e.get("type") == "searchResEntry"]

    def account_exists(self) -> bool:
        from ldap3 import SUBTREE
        from ldap3.utils.conv import escape_filter_chars

        sam = escape_filter_chars(self.target.username)
        found = self._search(
            self.base_dn,
            f"(&(objectClass=user)(sAMAccountName={sam}))",
            SUBTREE,
            ACCOUNT_ATTRIBUTES,
        )
        if not found:
            return False
        entry = found[0]
        self.account_dn, self.account_attrs = entry["dn"], dict(entry["attributes"])
        reason = refusal_for_entry(self.account_attrs)
        if reason:
            raise AccountRefused(f"{self.target.username}: refused: {reason}")
        self._read_policy()
        return True

    def _read_policy(self) -> None:
        """The effective policy: the domain's minPwdLength and complexity, overridden by
        the fine-grained policy (PSO) that applies to the account, if any."""
        from ldap3 import BASE

        domain = self._search(
            self.base_dn, "(objectClass=*)", BASE, ["minPwdLength", "pwdProperties"]
        )
        attrs = domain[0]["attributes"] if domain else {}
        self.min_length = int(_one(attrs.get("minPwdLength")) or 0)
        self.complex = bool(int(_one(attrs.get("pwdProperties")) or 0) & PWD_COMPLEX)
        pso = _one(self.account_attrs.get("msDS-ResultantPSO"))
        if pso:
            found = self._search(
                str(pso),
                "(objectClass=*)",
                BASE,
                ["msDS-MinimumPasswordLength", "msDS-PasswordComplexityEnabled"],
            )
            if found:
                p = found[0]["attributes"]
                self.min_length = int(_one(p.get("msDS-MinimumPasswordLength")) or 0)
                self.complex = bool(_one(p.get("msDS-PasswordComplexityEnabled")))

    def policy_refusal(self, value: str) -> str | None:
        """Why ``value`` would be refused by the account's effective policy, or None."""
        if len(value) < self.min_length:
            return f"the domain requires {self.min_length} characters"
        if self.complex:
            display = str(_one(self.account_attrs.get("displayName")) or "")
            return complexity_refusal(value, self.target.username, display)
        return None

    def change(self, new: Secret, old: Secret) -> None:
        import ldap3

        value = check_secret(new, self.policy, "new password")
        if self.conn is None or self.account_dn is None:
            raise ConnectionLost("change: no session")
        reason = self.policy_refusal(value)
        if reason:
            raise UnsafeValue(f"new password: {reason}")
        encoded = _quoted(value)
        ok = self._modify({"unicodePwd": [(ldap3.MODIFY_REPLACE, [encoded])]})
        if not ok and not self._reusable and self._code() == INSUFFICIENT_ACCESS:
            # Signed in as itself without the right to reset its own password (any ordinary
            # account): its own change instead, which proves the old password (delete old,
            # add new; the "Change Password" right every account has on itself). The DC
            # applies the minimum password age and the history here, not to a reset.
            ok = self._modify(
                {
                    "unicodePwd": [
                        (ldap3.MODIFY_DELETE, [_quoted(old.reveal())]),
                        (ldap3.MODIFY_ADD, [encoded]),
                    ]
                }
            )
        if not ok:
            if self.conn.closed:
                raise ConnectionLost(f"change: session lost: {_describe(self.conn)}")
            raise ChangeRejected(f"change: the DC said: {_describe(self.conn)}")

    def _modify(self, changes: dict[str, Any]) -> bool:
        try:
            return bool(self.conn.modify(self.account_dn, changes))
        except Exception as exc:
            raise ConnectionLost(f"change: {type(exc).__name__}: {exc}") from None

    def _code(self) -> int | None:
        return (self.conn.result or {}).get("result")

    def dependents(self) -> list[str]:
        """The hosts its SPNs name (services there run as this account, or accept tickets
        for it) and the advice; services and scheduled tasks are not read remotely yet."""
        hosts = spn_hosts(self.account_attrs.get("servicePrincipalName") or [])
        if not hosts:
            return []
        return [
            f"SPN hosts: {', '.join(hosts)} (services and scheduled tasks there were NOT "
            "checked for this logon account: keyturn does not read SCMR/TSCH yet)",
            "recommended: a gMSA (group managed service account) rotates its own password",
        ]

    def verify(self, rotated: Secret, refused: Secret | None = None) -> bool | None:
        """A fresh LDAPS connection to the same DC: one bind with ``refused`` (expected to
        fail), then one with ``rotated``; never a second attempt with either."""
        conn = self._connect()
        try:
            refusal = None
            if refused is not None:
                try:
                    self._bind(conn, self.target.username, refused)
                    refusal = False
                except LoginRefused:
                    refusal = True
            self._bind(conn, self.target.username, rotated)
            return refusal
        finally:
            conn.unbind()


def spn_hosts(spns: list[Any]) -> list[str]:
    """Host names from SPNs (``class/host[:port][/service]``), each once, sorted; values
    that are not text or hold control characters are skipped (directory data is hostile)."""
    from agent.core.identifiers import control_characters

    hosts = set()
    for spn in spns:
        text = spn.decode("utf-8", "replace") if isinstance(spn, bytes) else str(spn)
        parts = text.split("/")
        if len(parts) < 2 or control_characters(text):
            continue
        host = parts[1].split(":", 1)[0].strip().lower()
        if host:
            hosts.add(host)
    return sorted(hosts)


def _quoted(password: str) -> bytes:
    """unicodePwd's value: the password in double quotes, UTF-16-LE (MS-ADTS 3.1.1.3.1.5)."""
    return f'"{password}"'.encode("utf-16-le")


def _one(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _describe(conn: Any) -> str:
    result = conn.result or {}
    return f"{result.get('description', 'error')} ({result.get('message', '')})".strip()


def _read_pins(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        return {}
    return dict(line.split(" ", 1) for line in lines if " " in line)


def _append_pin(path: Path, name: str, fingerprint: str) -> None:
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as handle:
        handle.write(f"{name} {fingerprint}\n")
