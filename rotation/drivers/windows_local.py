"""Kind ``windows_local``: a Windows host's local account, reset over SMB/SAMR (impacket).

The local Administrator is addressed as ``rid:500`` and found by its RID in the host's
account domain (SamrOpenUser with the RID), never by name, so renamed and localised ones
("admin-old", "Administrateur", "Администратор") work. Signing in needs a name: ``rid:N``
as the login account is resolved to the account's current name over an anonymous SAMR
lookup where the host allows one (Samba does by default; Windows does not: give
``login = NAME`` then). The change is an administrative reset (SamrSetInformationUser level
18, the NT hash encrypted with the SMB session key: it does not mark the password "must
change", unlike the level-25 helper); verification is a fresh SMB session setup, first with
the old password (``old_password_refused``), then the new one, each once. SMB signing and
encryption are whatever the host negotiates with impacket. The reset is effective and
persistent at once (no save), and reverting is another reset with the old password.
"""

from __future__ import annotations

import contextlib
import re
import threading
from typing import Any, ClassVar

from agent.core.secret import Secret
from rotation.contract import (
    ChangeRejected,
    ConnectionLost,
    CredentialMissing,
    Driver,
    DriverError,
    LoginRefused,
    PrivilegeFailed,
    Target,
    check_secret,
)
from rotation.policy import PasswordPolicy

# rid:N, or a local account name (letters, digits, . _ -; no domain part, no space).
LOCAL_ACCOUNT = re.compile(r"rid:[0-9]{1,10}|[A-Za-z0-9_][A-Za-z0-9._-]{0,19}")
LOGON_FAILURE = {"STATUS_LOGON_FAILURE", "STATUS_ACCOUNT_DISABLED", "STATUS_PASSWORD_EXPIRED"}
# Resolved names of RID-addressed accounts: (host, port, rid) -> name, learnt in a session.
_NAMES: dict[tuple[str, int, int], str] = {}
_NAMES_LOCK = threading.Lock()


def rid_of(name: str) -> int | None:
    return int(name[4:]) if name.startswith("rid:") else None


class WindowsLocalDriver(Driver):
    platform = "windows_local"
    needs_save = False
    identity_check = "smb"
    username_grammar = LOCAL_ACCOUNT
    # Windows' local policy default is 0-14 characters with complexity: 24 of every class.
    policy: ClassVar[PasswordPolicy] = PasswordPolicy(min_length=14, max_length=127)

    def __init__(self, target: Target, env: Any) -> None:
        super().__init__(target, env)
        self.smb: Any = None
        self.dce: Any = None
        self.user_handle: Any = None

    # -- transport ---------------------------------------------------------------------------
    def _session(self) -> Any:
        from impacket.smbconnection import SMBConnection

        t = self.target
        try:
            return SMBConnection(t.host, t.host, sess_port=t.port, timeout=self.env.timeout)
        except Exception as exc:
            raise ConnectionLost(f"{t.host}:{t.port}: {type(exc).__name__}: {exc}") from None

    def _login(self, smb: Any, name: str, password: Secret) -> None:
        try:
            smb.login(name, password.reveal())
        except Exception as exc:
            text = str(exc)
            if any(code in text for code in LOGON_FAILURE):
                raise LoginRefused(f"{self.target.host}: SMB logon as {name} refused") from None
            raise ConnectionLost(f"{self.target.host}: SMB logon: {text[:200]}") from None

    def _samr(self, smb: Any) -> Any:
        from impacket.dcerpc.v5 import samr, transport

        rpc = transport.SMBTransport(self.target.host, filename=r"\samr", smb_connection=smb)
        dce = rpc.get_dce_rpc()
        dce.connect()
        dce.bind(samr.MSRPC_UUID_SAMR)
        return dce

    def _account_domain(self, dce: Any) -> Any:
        """The handle of the host's own account domain (not Builtin)."""
        from impacket.dcerpc.v5 import samr

        server = samr.hSamrConnect(dce)["ServerHandle"]
        domains = samr.hSamrEnumerateDomainsInSamServer(dce, server)["Buffer"]["Buffer"]
        names = [d["Name"] for d in domains if d["Name"].lower() != "builtin"]
        if not names:
            raise ConnectionLost(f"{self.target.host}: SAMR lists no account domain")
        sid = samr.hSamrLookupDomainInSamServer(dce, server, names[0])["DomainId"]
        return samr.hSamrOpenDomain(dce, server, domainId=sid)["DomainHandle"]

    def _name_for(self, account: str) -> str:
        """The name to sign in with: as given, or the current name of ``rid:N``."""
        rid = rid_of(account)
        if rid is None:
            return account
        key = (self.target.host, self.target.port, rid)
        with _NAMES_LOCK:
            if key in _NAMES:
                return _NAMES[key]
        smb = self._session()
        try:
            self._login(smb, "", Secret(""))  # anonymous: only names are read
            name = self._lookup_rid(self._samr(smb), rid)
        except DriverError:
            raise CredentialMissing(
                f"{self.target.host}: cannot learn the name of {account} anonymously; "
                "give login = <its current name> in the targets file"
            ) from None
        except Exception as exc:
            raise CredentialMissing(
                f"{self.target.host}: cannot learn the name of {account} ({exc}); "
                "give login = <its current name> in the targets file"
            ) from None
        finally:
            with contextlib.suppress(Exception):
                smb.close()
        return name

    def _lookup_rid(self, dce: Any, rid: int, domain: Any = None) -> str:
        from impacket.dcerpc.v5 import samr

        domain = domain if domain is not None else self._account_domain(dce)
        found = samr.hSamrLookupIdsInDomain(dce, domain, [rid])
        name = str(found["Names"]["Element"][0]["Data"])
        with _NAMES_LOCK:
            _NAMES[(self.target.host, self.target.port, rid)] = name
        return name

    # -- the verbs ---------------------------------------------------------------------------
    def open(self, rotated: Secret) -> None:
        t = self.target
        login = t.login_user
        secret = rotated if login == t.username else self.stored(login)
        if secret is None:
            raise CredentialMissing(f"no stored password for the login account {login}")
        self.smb = self._session()
        self._login(self.smb, self._name_for(login), secret)
        _derive_application_key(self.smb)
        try:
            self.dce = self._samr(self.smb)
        except Exception as exc:
            raise PrivilegeFailed(f"{t.host}: SAMR over SMB refused: {exc}") from None

    def close(self) -> None:
        for closer in (getattr(self.dce, "disconnect", None), getattr(self.smb, "close", None)):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer()
        self.dce = self.smb = None

    @property
    def alive(self) -> bool:
        return self.dce is not None

    def account_exists(self) -> bool:
        from impacket.dcerpc.v5 import samr

        account = self.target.username
        try:
            domain = self._account_domain(self.dce)
            rid = rid_of(account)
            if rid is None:
                try:
                    found = samr.hSamrLookupNamesInDomain(self.dce, domain, [account])
                except samr.DCERPCSessionError:
                    return False
                rid = found["RelativeIds"]["Element"][0]["Data"]
            else:
                # The name later fresh logins use (the domain handle is already open).
                self._lookup_rid(self.dce, rid, domain)
            self.user_handle = samr.hSamrOpenUser(self.dce, domain, userId=rid)["UserHandle"]
        except samr.DCERPCSessionError as exc:
            if "STATUS_NO_SUCH_USER" in str(exc) or "STATUS_NONE_MAPPED" in str(exc):
                return False
            raise PrivilegeFailed(f"{self.target.host}: SAMR: {exc}") from None
        except DriverError:
            raise
        except Exception as exc:
            raise ConnectionLost(f"{self.target.host}: SAMR: {exc}") from None
        return True

    def change(self, new: Secret, old: Secret) -> None:
        from impacket.dcerpc.v5 import samr

        value = check_secret(new, self.policy, "new password")
        if self.dce is None or self.user_handle is None:
            raise ConnectionLost("change: no session")
        try:
            samr.hSamrSetNTInternal1(self.dce, self.user_handle, value)
        except samr.DCERPCSessionError as exc:
            raise ChangeRejected(f"change: the host said: {exc}") from None
        except Exception as exc:
            self.dce = None
            raise ConnectionLost(f"change: session lost: {exc}") from None

    def verify(self, rotated: Secret, refused: Secret | None = None) -> bool | None:
        name = self._name_for(self.target.username)
        refusal = None
        if refused is not None:
            smb = self._session()
            try:
                self._login(smb, name, refused)
                refusal = False
            except LoginRefused:
                refusal = True
            finally:
                with contextlib.suppress(Exception):
                    smb.close()
        smb = self._session()
        try:
            self._login(smb, name, rotated)
        finally:
            with contextlib.suppress(Exception):
                smb.close()
        return refusal


def _derive_application_key(smb: Any) -> None:
    """SAMR encrypts the new password with the SMB session's application key; impacket
    derives that key for SMB 3.x only when the host offers encryption (a host with SMB
    encryption turned off left it empty, and every reset failed). Derive it as MS-SMB2
    3.3.5.5.3 says, from the session key impacket kept."""
    from impacket import crypto
    from impacket.smb3structs import SMB2_DIALECT_30, SMB2_DIALECT_311

    server = smb.getSMBServer()
    dialect = smb.getDialect()
    session = getattr(server, "_Session", None)
    if not isinstance(dialect, int) or dialect < SMB2_DIALECT_30 or session is None:
        return  # SMB1/2: the session key itself is the key
    if session.get("ApplicationKey") or not session.get("SessionKey"):
        return
    if dialect == SMB2_DIALECT_311:
        label, context = b"SMBAppKey\x00", session["PreauthIntegrityHashValue"]
    else:
        label, context = b"SMB2APP\x00", b"SmbRpc\x00"
    session["ApplicationKey"] = crypto.KDF_CounterMode(session["SessionKey"], label, context, 128)
