"""The lab domain's content, declared as one table, and the answers an AD audit must give on it.

The same :func:`build` table drives both the directory (``lab.samba_dc.populate`` writes it into
Samba) and ``lab.ad_expected.expected_answers``, so a change to the fixture changes the
expected answers with it. Nothing here talks to Samba; this module is pure data and runs anywhere.

Conventions of the expected answers (the ``ad`` audit is tested against them):

* Privileged groups are the keys of :data:`PRIVILEGED_GROUPS` (well-known English names).
  ``rid_or_sid`` is the RID for domain groups (512), the full SID for builtin ones
  (``S-1-5-32-544``) and the DC-assigned SID for DnsAdmins (it has no well-known RID).
* ``members`` holds every transitive member of a privileged group, keyed by sAMAccountName
  (groups by their name, foreign security principals by their SID). ``path`` is the shortest
  chain of group names from the privileged group down to the member's direct group:
  alice.martin in IT-Admins in Tier0-Admins in Domain Admins has path
  ``["Domain Admins", "Tier0-Admins", "IT-Admins"]``; a direct member has ``["Domain Admins"]``.
  ``via_primary_group`` is true when the last hop is the member's primaryGroupID rather than
  the ``member`` attribute. ``kind`` is user, computer, group or foreign; groups and foreign
  principals count as enabled.
* "Privileged account" means a user or computer that is a member of any privileged group.
* Finding rules (ids in :data:`RULES`) look at enabled accounts unless the rule is about
  disabled ones (``privileged_disabled``) or about an attribute that matters either way
  (``sid_history``, ``privileged_recently_created``). ``orphaned_admincount`` ignores krbtgt,
  which carries adminCount=1 by design. ``unconstrained_delegation`` ignores domain
  controllers. ``kerberoastable`` covers enabled user objects with an SPN except krbtgt (not
  computers, not gMSAs); ``kerberoastable_privileged`` is its privileged subset.
  Day thresholds are in ``expected["thresholds"]``.
* ``clean_accounts`` lists every user account that is neither privileged nor in any finding.
* ``computers`` counts non-DC computers by operatingSystem (``Server`` in the name means a
  server); domain controllers are listed separately.

Directory-level plants (issue 16): svc_sync holds both replication rights on the domain head
(``dcsync_rights``); it.support holds GenericAll on AdminSDHolder (``adminsdholder_ace``) and
owns adm.jsmith (``privileged_object_owner``); WS-IT-01$ may delegate to DC1$ by RBCD
(``rbcd_on_privileged``; WS-HR-01$ to FS01$ is the clean case: a member server); APP01$ has
protocol-transition delegation; legacy.des is DES-only; adm.secure (Protected Users) and
adm.sensitive (NOT_DELEGATED) are the clean privileged cases. The lab schema gains legacy LAPS's
``ms-Mcs-AdmPwdExpirationTime`` and FS01$/APP01$ carry it (the clean ``laps_missing`` cases).
Samba's provisioning itself supplies the machine account quota of 10, the weak default policy
and Authenticated Users in Pre-Windows 2000 Compatible Access.

Group managed service accounts: Samba 4.17 accepts the msDS-GroupManagedServiceAccount object
(so an audit can see it) but does not compute its managed password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FIXTURE_VERSION = 2

# userAccountControl flags the fixture sets (MS-ADTS 2.2.16).
ACCOUNTDISABLE = 0x2
PASSWD_NOTREQD = 0x20
ENCRYPTED_TEXT_PWD_ALLOWED = 0x80
NORMAL_ACCOUNT = 0x200
WORKSTATION_TRUST_ACCOUNT = 0x1000
SERVER_TRUST_ACCOUNT = 0x2000
DONT_EXPIRE_PASSWORD = 0x10000
TRUSTED_FOR_DELEGATION = 0x80000
NOT_DELEGATED = 0x100000
USE_DES_KEY_ONLY = 0x200000
DONT_REQ_PREAUTH = 0x400000
TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000

STALE_DAYS = 180
RECENT_DAYS = 30
KRBTGT_MAX_AGE_DAYS = 180

# Well-known name -> RID (domain groups) or SID (builtin); None: SID assigned by the DC.
PRIVILEGED_GROUPS: dict[str, int | str | None] = {
    "Domain Admins": 512,
    "Enterprise Admins": 519,
    "Schema Admins": 518,
    "Administrators": "S-1-5-32-544",
    "Account Operators": "S-1-5-32-548",
    "Backup Operators": "S-1-5-32-551",
    "Server Operators": "S-1-5-32-549",
    "Print Operators": "S-1-5-32-550",
    "DnsAdmins": None,
}


# A domain that no longer exists: source of the SID history and of the foreign member.
OLD_DOMAIN_SID = "S-1-5-21-1004336348-1177238915-682003330"
FOREIGN_ADMIN_SID = f"{OLD_DOMAIN_SID}-1112"

BULK_GROUP = "All-Staff"
BULK_GROUP_SIZE = 2000
SIZES = {"small": 0, "large": 10_000}  # total user accounts wanted (0: only what is needed)

Kind = Literal["user", "computer", "gmsa"]


@dataclass(frozen=True)
class Account:
    """A user, computer or gMSA. Day counts are relative to population time."""

    sam: str
    kind: Kind = "user"
    ou: str = "OU=Staff"
    display: str = ""
    uac: int = NORMAL_ACCOUNT
    spns: tuple[str, ...] = ()
    dialin: bool | None = None
    primary_group: str | None = None  # a group name; None keeps the default
    admin_count: bool = False
    last_logon_days: int | None = 3  # None: never logged on
    created_days: int = 900
    pwd_age_days: int = 60
    os: str | None = None
    sid_history: tuple[str, ...] = ()
    builtin: bool = False  # created by provisioning; population only modifies it
    rid: int | None = None  # well-known RID of builtin accounts
    bulk: bool = False  # filler staff: shares one password hash (see lab/data/samdb_apply.py)
    delegate_to: tuple[str, ...] = ()  # msDS-AllowedToDelegateTo
    rbcd_from: tuple[str, ...] = ()  # accounts msDS-AllowedToActOnBehalfOfOtherIdentity allows
    owner: str | None = None  # an account that owns this object (default: Domain Admins)
    laps: bool = False  # carries a legacy LAPS expiry (the lab schema is extended for it)

    @property
    def enabled(self) -> bool:
        return not self.uac & ACCOUNTDISABLE

    @property
    def is_dc(self) -> bool:
        return bool(self.uac & SERVER_TRUST_ACCOUNT)


@dataclass(frozen=True)
class Group:
    """A global security group (or an existing builtin one); ``members`` are sAMAccountNames
    (accounts or groups) or foreign SIDs."""

    name: str
    members: tuple[str, ...] = ()
    ou: str = "OU=Groups"
    builtin: bool = False


@dataclass
class Fixture:
    accounts: dict[str, Account] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    ous: tuple[str, ...] = ()
    # Backdoor ACEs: principals granted replication rights on the domain head, and principals
    # granted full control of AdminSDHolder.
    dcsync: tuple[str, ...] = ()
    adminsdholder: tuple[str, ...] = ()


def _u(sam: str, display: str, **kw) -> Account:
    return Account(sam=sam, display=display, **kw)


def _named_accounts(dc_sam: str) -> list[Account]:
    admins = {"ou": "OU=Admins", "admin_count": True}
    return [
        # Provisioned accounts, as a careless inheritance leaves them.
        Account(
            "Administrator",
            builtin=True,
            rid=500,
            admin_count=True,
            ou="CN=Users",
            created_days=1500,
        ),
        Account(
            "Guest",
            builtin=True,
            rid=501,
            ou="CN=Users",
            last_logon_days=None,
            uac=NORMAL_ACCOUNT | PASSWD_NOTREQD | DONT_EXPIRE_PASSWORD,
            created_days=1500,
        ),
        Account(
            "krbtgt",
            builtin=True,
            rid=502,
            ou="CN=Users",
            admin_count=True,
            uac=NORMAL_ACCOUNT | ACCOUNTDISABLE,
            spns=("kadmin/changepw",),
            last_logon_days=None,
            created_days=1500,
            pwd_age_days=1400,
        ),
        Account(
            dc_sam,
            kind="computer",
            builtin=True,
            ou="OU=Domain Controllers",
            os="Samba",
            uac=SERVER_TRUST_ACCOUNT | TRUSTED_FOR_DELEGATION,
            created_days=1500,
            spns=(),
            rbcd_from=("WS-IT-01$",),
        ),
        # Tiered admins: nested chains into Domain Admins and builtin Administrators.
        _u("alice.martin", "Alice Martin (admin)", dialin=True, **admins),
        _u("adm.tnguyen", "Thanh Nguyen (admin)", last_logon_days=None, **admins),
        _u("bob.keller", "Bob Keller (server admin)", **admins),
        _u(
            "adm.jsmith",
            "John Smith (admin)",
            uac=NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD,
            owner="it.support",
            **admins,
        ),
        # Privileged and protected: one in Protected Users, one marked sensitive.
        _u("adm.secure", "Secure Admin (protected)", **admins),
        _u("adm.sensitive", "Sensitive Admin", uac=NORMAL_ACCOUNT | NOT_DELEGATED, **admins),
        _u("adm.rlopez", "Rosa Lopez (admin)", primary_group="Domain Admins", **admins),
        _u(
            "adm.pbrown",
            "Peter Brown (left 2023)",
            uac=NORMAL_ACCOUNT | ACCOUNTDISABLE,
            last_logon_days=400,
            **admins,
        ),
        _u("adm.sking", "Sarah King (admin, new)", created_days=5, last_logon_days=1, **admins),
        _u("ea.dwright", "Daniel Wright (forest admin)", **admins),
        _u("sa.pnovak", "Pavel Novak (schema)", **admins),
        _u("maria.garcia", "Maria Garcia (helpdesk lead)", admin_count=True),
        _u(
            "svc_backup",
            "Backup service",
            ou="OU=Service Accounts",
            admin_count=True,
            uac=NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD,
        ),
        _u("tom.fischer", "Tom Fischer", admin_count=True),
        _u("lena.weber", "Lena Weber", admin_count=True),
        _u("kevin.mueller", "Kevin Mueller (network)", admin_count=True),
        # Service accounts with SPNs naming lab hosts (files1 is FS01, web1 the intranet);
        # svc_sql sits in Domain Admins, as they often do. The lab hands both passwords to
        # keyturn (lab/site.py), so onboard --rotate rotates them (kind ad).
        _u(
            "svc_sql",
            "SQL Server service",
            ou="OU=Service Accounts",
            admin_count=True,
            uac=NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD,
            spns=("MSSQLSvc/fs01.corp.keyturn.test:1433", "MSSQLSvc/fs01.corp.keyturn.test"),
        ),
        _u(
            "svc_sharepoint",
            "SharePoint service",
            ou="OU=Service Accounts",
            uac=NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD,
            spns=("HTTP/web1.corp.keyturn.test", "HTTP/web1"),
        ),
        _u(
            "svc_legacyapp",
            "Old app pool (retired)",
            ou="OU=Service Accounts",
            uac=NORMAL_ACCOUNT | ACCOUNTDISABLE,
            spns=("HTTP/oldapp.corp.keyturn.test",),
            last_logon_days=500,
        ),
        Account(
            "gmsa_web$",
            kind="gmsa",
            ou="CN=Managed Service Accounts",
            uac=WORKSTATION_TRUST_ACCOUNT,
            spns=("HTTP/web01.corp.keyturn.test",),
        ),
        # One hygiene finding each.
        _u("greg.hall", "Greg Hall (ex-admin)", admin_count=True),
        _u(
            "svc_scanner",
            "MFP scan-to-folder",
            ou="OU=Service Accounts",
            uac=NORMAL_ACCOUNT | DONT_REQ_PREAUTH,
        ),
        _u("temp.contractor", "Temporary contractor", uac=NORMAL_ACCOUNT | PASSWD_NOTREQD),
        _u("legacy.vpn", "Legacy VPN user", uac=NORMAL_ACCOUNT | ENCRYPTED_TEXT_PWD_ALLOWED),
        _u("nina.patel", "Nina Patel", last_logon_days=240),
        _u("mark.evans", "Mark Evans (migrated)", sid_history=(f"{OLD_DOMAIN_SID}-1109",)),
        _u("legacy.des", "Old UNIX interop user", uac=NORMAL_ACCOUNT | USE_DES_KEY_ONLY),
        # Backdoors a departing provider leaves: replication rights, an AdminSDHolder ACE
        # (and ownership of an admin account), both on ordinary-looking accounts.
        _u("svc_sync", "Directory sync service", ou="OU=Service Accounts"),
        _u("it.support", "IT support (external)"),
        # Clean users: they must not show up in any finding.
        _u("anna.becker", "Anna Becker"),
        _u("paul.richter", "Paul Richter"),
        _u("sofia.rossi", "Sofia Rossi"),
        _u("david.kim", "David Kim"),
        _u("laura.jones", "Laura Jones", dialin=True),
        _u("james.wilson", "James Wilson", dialin=True),
        _u("emma.schulz", "Emma Schulz", dialin=False),
        # Member servers and workstations.
        # RBCD on a member server is ordinary; only on a DC or admin does it fire.
        Account(
            "FS01$",
            kind="computer",
            ou="OU=Servers",
            os="Windows Server 2019 Standard",
            uac=WORKSTATION_TRUST_ACCOUNT,
            rbcd_from=("WS-HR-01$",),
            laps=True,
        ),
        Account(
            "APP01$",
            kind="computer",
            ou="OU=Servers",
            os="Windows Server 2019 Standard",
            uac=WORKSTATION_TRUST_ACCOUNT | TRUSTED_TO_AUTH_FOR_DELEGATION,
            delegate_to=("cifs/fs01.corp.keyturn.test", "cifs/FS01"),
            laps=True,
        ),
        Account(
            "SQL01$",
            kind="computer",
            ou="OU=Servers",
            os="Windows Server 2022 Standard",
            uac=WORKSTATION_TRUST_ACCOUNT | TRUSTED_FOR_DELEGATION,
        ),
        Account(
            "NPS01$",
            kind="computer",
            ou="OU=Servers",
            os="Windows Server 2022 Standard",
            uac=WORKSTATION_TRUST_ACCOUNT,
        ),
        *(
            Account(
                name,
                kind="computer",
                ou="OU=Workstations",
                os=os_name,
                uac=WORKSTATION_TRUST_ACCOUNT,
            )
            for name, os_name in (
                ("WS-ACC-01$", "Windows 10 Pro"),
                ("WS-ACC-02$", "Windows 10 Enterprise"),
                ("WS-HR-01$", "Windows 11 Pro"),
                ("WS-IT-01$", "Windows 11 Enterprise"),
                ("LT-SALES-01$", "Windows 10 Pro"),
            )
        ),
    ]


def _groups(bulk: list[str]) -> list[Group]:
    builtin = {"builtin": True}
    return [
        Group("IT-Admins", ("alice.martin", "adm.tnguyen")),
        Group("Tier0-Admins", ("IT-Admins",)),
        Group("Server-Admins", ("bob.keller",)),
        Group("Infra-Operators", ("Server-Admins",)),
        Group(
            "Domain Admins",
            (
                "Administrator",
                "Tier0-Admins",
                "adm.jsmith",
                "adm.pbrown",
                "adm.sking",
                "svc_sql",
                "adm.secure",
                "adm.sensitive",
            ),
            **builtin,
        ),
        Group("Enterprise Admins", ("Administrator", "ea.dwright"), **builtin),
        Group("Schema Admins", ("Administrator", "sa.pnovak"), **builtin),
        Group(
            "Administrators",
            (
                "Enterprise Admins",
                "Domain Admins",
                "Administrator",
                "Infra-Operators",
                FOREIGN_ADMIN_SID,
            ),
            **builtin,
        ),
        Group("Account Operators", ("maria.garcia",), **builtin),
        Group("Backup Operators", ("svc_backup",), **builtin),
        Group("Server Operators", ("tom.fischer",), **builtin),
        Group("Print Operators", ("lena.weber",), **builtin),
        Group("DnsAdmins", ("kevin.mueller",), **builtin),
        Group("RAS and IAS Servers", ("NPS01$",), **builtin),
        Group("Protected Users", ("adm.secure",), **builtin),
        Group(BULK_GROUP, tuple(bulk[:BULK_GROUP_SIZE])),
    ]


_FIRST = (
    "Olivia", "Liam", "Emma", "Noah", "Mia", "Lucas", "Sophie", "Ben", "Hannah", "Felix",
    "Clara", "Jonas", "Lea", "Elias", "Marie", "Paul", "Nora", "Leon", "Ida", "Max",
)  # fmt: skip
_LAST = (
    "Schmidt", "Meyer", "Wagner", "Becker", "Hoffmann", "Schulz", "Koch", "Bauer",
    "Richter", "Klein", "Wolf", "Neumann", "Schwarz", "Braun", "Zimmermann", "Krueger",
    "Hartmann", "Lange", "Werner", "Krause", "Lehmann", "Koehler", "Jung", "Vogel",
)  # fmt: skip


def _bulk_names(count: int) -> list[str]:
    """Deterministic, realistic, unique staff logon names."""
    names = []
    for i in range(count):
        first = _FIRST[i % len(_FIRST)]
        last = _LAST[(i // len(_FIRST)) % len(_LAST)]
        names.append(f"{first.lower()}.{last.lower()}{i // (len(_FIRST) * len(_LAST)) + 1:02d}")
    return names


def build(size: str = "small", *, dc_sam: str = "DC1$") -> Fixture:
    """The whole fixture for ``size`` ("small": named accounts + the 2000-member group;
    "large": the same, padded with staff to 10,000 user accounts)."""
    if size not in SIZES:
        raise ValueError(f"unknown fixture size {size!r}; choose from {sorted(SIZES)}")
    named = _named_accounts(dc_sam)
    named_users = sum(1 for a in named if a.kind == "user")
    bulk = _bulk_names(max(BULK_GROUP_SIZE, SIZES[size] - named_users))
    accounts = [
        *named,
        *(
            Account(sam, display=sam, last_logon_days=1 + i % 9, bulk=True)
            for i, sam in enumerate(bulk)
        ),
    ]
    fixture = Fixture(
        accounts={a.sam: a for a in accounts},
        groups={g.name: g for g in _groups(bulk)},
        ous=(
            "OU=Admins",
            "OU=Staff",
            "OU=Service Accounts",
            "OU=Servers",
            "OU=Workstations",
            "OU=Groups",
        ),
        dcsync=("svc_sync",),
        adminsdholder=("it.support",),
    )
    _check(fixture)
    return fixture


def _check(fixture: Fixture) -> None:
    """Catch a typo in the table here rather than as a wrong expected answer."""
    named = [
        *fixture.dcsync,
        *fixture.adminsdholder,
        *(n for a in fixture.accounts.values() for n in (*a.rbcd_from, a.owner) if n),
    ]
    for name in named:
        if name not in fixture.accounts:
            raise ValueError(f"unknown account {name}")
    for group in fixture.groups.values():
        for member in group.members:
            if (
                not member.startswith("S-1-")
                and member not in fixture.accounts
                and member not in fixture.groups
            ):
                raise ValueError(f"{group.name}: unknown member {member}")
