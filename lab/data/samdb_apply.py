"""Write the lab fixture straight into a stopped Samba DC's sam.ldb (run by /usr/bin/python3).

Samba's Python bindings exist only for Debian's interpreter, so ``lab.samba_dc`` runs this file
with /usr/bin/python3 and sends one JSON job on stdin (passwords included: stdin is a pipe,
never a file). It prints one JSON object with what only the DC knows (SIDs) on stdout.

Going through SamDB in transactions instead of LDAP is what makes 10,000 users take seconds:
bulk users are written with a copy of one template user's password hashes under the
"bypass password hash" control, which skips the per-user key derivation (~18 ms each).
The bulk users therefore share one (random, never stored) password and their Kerberos keys
carry the template's salt; nobody logs on as them.
"""

import json
import sys

import ldb
from samba import dsdb
from samba.auth import system_session
from samba.dcerpc import security
from samba.ndr import ndr_pack, ndr_unpack
from samba.param import LoadParm
from samba.samdb import SamDB
from samba.sd_utils import SDUtils

BYPASS_HASH = f"local_oid:{dsdb.DSDB_CONTROL_BYPASS_PASSWORD_HASH_OID}:0"
GLOBAL_SECURITY_GROUP = str(-2147483646)
BATCH = 1000
# Legacy LAPS, which Samba's schema lacks: the lab adds the one non-confidential attribute
# the audit reads (Microsoft's AdmPwd.ps schema: OID, syntax Large-Integer, on computer).
LAPS_ATTRIBUTE = "ms-Mcs-AdmPwdExpirationTime"
LAPS_OID = "1.2.840.113556.1.8000.2554.50051.45980.28112.18903.35903.6685103.1224907.2.2"
LAPS_EXPIRY = 134_000_000_000_000_000  # a FILETIME in 2025: present is what matters
REPLICATION_RIGHTS = (
    "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2",  # DS-Replication-Get-Changes
    "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2",
)  # ...-Get-Changes-All


def utf16_password(password):
    return f'"{password}"'.encode("utf-16-le")


def replace(db, dn, attrs, controls=()):
    msg = ldb.Message(ldb.Dn(db, dn))
    for name, values in attrs.items():
        msg[name] = ldb.MessageElement(values, ldb.FLAG_MOD_REPLACE, name)
    db.modify(msg, controls=list(controls))


def account_record(dns_name, account, base):
    sam = account["sam"]
    cn = sam.rstrip("$")
    record = {
        "dn": f"CN={cn},{account['ou']},{base}",
        "sAMAccountName": sam,
        "userAccountControl": str(account["uac"]),
    }
    if account["kind"] == "user":
        record["objectClass"] = "user"
        record["userPrincipalName"] = f"{sam}@{dns_name}"
        record["displayName"] = account["display"] or sam
    elif account["kind"] == "computer":
        record["objectClass"] = "computer"
        record["dNSHostName"] = f"{cn.lower()}.{dns_name}"
    else:
        record["objectClass"] = "msDS-GroupManagedServiceAccount"
        record["dNSHostName"] = f"{cn.lower()}.{dns_name}"
        record["msDS-ManagedPasswordInterval"] = "30"
    if account["spns"]:
        record["servicePrincipalName"] = account["spns"]
    if account["os"]:
        record["operatingSystem"] = account["os"]
    if account["dialin"] is not None:
        record["msNPAllowDialin"] = "TRUE" if account["dialin"] else "FALSE"
    if account["admin_count"]:
        record["adminCount"] = "1"
    if account.get("password"):
        record["unicodePwd"] = utf16_password(account["password"])
    if account.get("delegate_to"):
        record["msDS-AllowedToDelegateTo"] = list(account["delegate_to"])
    if account.get("laps"):
        record[LAPS_ATTRIBUTE] = str(LAPS_EXPIRY)
    return record


def add_accounts(db, plan, dns_name, base, dns):
    """Named accounts get their own password; bulk ones a copy of the first bulk user's hashes."""
    template = None
    pending = [a for a in plan["accounts"] if not a["builtin"]]
    for start in range(0, len(pending), BATCH):
        db.transaction_start()
        try:
            for account in pending[start : start + BATCH]:
                record = account_record(dns_name, account, base)
                if account.get("bulk") and template is not None:
                    record.update(template)
                    db.add(record, controls=[BYPASS_HASH])
                else:
                    db.add(record)
                if account.get("bulk") and template is None:
                    stored = db.search(
                        record["dn"],
                        scope=ldb.SCOPE_BASE,
                        attrs=["unicodePwd", "supplementalCredentials"],
                    )[0]
                    template = {k: stored[k][0] for k in ("unicodePwd", "supplementalCredentials")}
                if account["sid_history"]:
                    msg = ldb.Message(ldb.Dn(db, record["dn"]))
                    msg["sIDHistory"] = ldb.MessageElement(
                        [ndr_pack(security.dom_sid(s)) for s in account["sid_history"]],
                        ldb.FLAG_MOD_ADD,
                        "sIDHistory",
                    )
                    db.modify(msg, controls=["relax:0"])
                dns[account["sam"]] = record["dn"]
            db.transaction_commit()
        except Exception:
            db.transaction_cancel()
            raise


def lookup_dn(db, base, sam):
    found = db.search(base, expression=f"(sAMAccountName={ldb.binary_encode(sam)})", attrs=[])
    if len(found) != 1:
        raise LookupError(f"{sam}: {len(found)} matches")
    return str(found[0].dn)


def add_groups(db, plan, base, dns):
    for group in plan["groups"]:
        if group["builtin"]:
            dns[group["name"]] = lookup_dn(db, base, group["name"])
        else:
            dn = f"CN={group['name']},{group['ou']},{base}"
            db.add(
                {
                    "dn": dn,
                    "objectClass": "group",
                    "sAMAccountName": group["name"],
                    "groupType": GLOBAL_SECURITY_GROUP,
                }
            )
            dns[group["name"]] = dn
    db.transaction_start()
    try:
        for group in plan["groups"]:
            have = db.search(dns[group["name"]], scope=ldb.SCOPE_BASE, attrs=["member"])[0]
            present = {str(v).lower() for v in have.get("member", [])}
            wanted = []
            for member in group["members"]:
                if member.startswith("S-1-"):
                    wanted.append(f"<SID={member}>")
                    continue
                if member not in dns:
                    dns[member] = lookup_dn(db, base, member)
                if dns[member].lower() not in present:
                    wanted.append(dns[member])
            if wanted:
                msg = ldb.Message(ldb.Dn(db, dns[group["name"]]))
                msg["member"] = ldb.MessageElement(wanted, ldb.FLAG_MOD_ADD, "member")
                db.modify(msg)
        db.transaction_commit()
    except Exception:
        db.transaction_cancel()
        raise


def sid_of(db, dn):
    value = db.search(dn, scope=ldb.SCOPE_BASE, attrs=["objectSid"])[0]["objectSid"][0]
    return str(ndr_unpack(security.dom_sid, value))


def set_state(db, plan, base, dns):
    """Primary groups, builtin account flags and the backdated timestamps."""
    db.transaction_start()
    try:
        for account in plan["accounts"]:
            dn = dns.get(account["sam"]) or lookup_dn(db, base, account["sam"])
            if account["primary_group"]:
                # Samba, like AD, only accepts a primary group the account is a member of,
                # then drops that explicit membership: afterwards it is in primaryGroupID only.
                group_dn = dns[account["primary_group"]]
                msg = ldb.Message(ldb.Dn(db, group_dn))
                msg["member"] = ldb.MessageElement(dn, ldb.FLAG_MOD_ADD, "member")
                db.modify(msg)
                group_sid = sid_of(db, group_dn)
                replace(db, dn, {"primaryGroupID": group_sid.rsplit("-", 1)[1]})
            attrs = {"whenCreated": account["when_created"]}
            if account["builtin"] and account["sam"] != "krbtgt":
                attrs["userAccountControl"] = str(account["uac"])
            if account["admin_count"]:
                attrs["adminCount"] = "1"
            if account["last_logon"] is not None:
                attrs["lastLogonTimestamp"] = str(account["last_logon"])
                attrs["lastLogon"] = str(account["last_logon"])
            replace(db, dn, attrs)
            if account["sam"] != "Administrator" and account["kind"] != "gmsa":
                # pwdLastSet only takes 0/-1 through the password module; bypass it.
                replace(db, dn, {"pwdLastSet": str(account["pwd_last_set"])}, [BYPASS_HASH])
        db.transaction_commit()
    except Exception:
        db.transaction_cancel()
        raise


def extend_schema_for_laps(db):
    schema = str(db.get_schema_basedn())
    found = db.search(schema, expression=f"(lDAPDisplayName={LAPS_ATTRIBUTE})", attrs=[])
    if len(found):
        return
    db.add(
        {
            "dn": f"CN={LAPS_ATTRIBUTE},{schema}",
            "objectClass": "attributeSchema",
            "cn": LAPS_ATTRIBUTE,
            "lDAPDisplayName": LAPS_ATTRIBUTE,
            "attributeID": LAPS_OID,
            "attributeSyntax": "2.5.5.16",
            "oMSyntax": "65",
            "isSingleValued": "TRUE",
            "searchFlags": "0",
            "adminDisplayName": LAPS_ATTRIBUTE,
        }
    )
    msg = ldb.Message(ldb.Dn(db, f"CN=Computer,{schema}"))
    msg["mayContain"] = ldb.MessageElement(LAPS_ATTRIBUTE, ldb.FLAG_MOD_ADD, "mayContain")
    db.modify(msg)
    db.set_schema_update_now()


def plant(db, plan, base, dns):
    """The backdoors: replication rights, an AdminSDHolder ACE, owners, RBCD (system-only
    over LDAP in Samba 4.17, so written here, on the DC's own database)."""

    def sid(sam):
        return sid_of(db, dns.get(sam) or lookup_dn(db, base, sam))

    acl = SDUtils(db)
    for principal in plan["dcsync"]:
        for right in REPLICATION_RIGHTS:
            acl.dacl_add_ace(base, f"(OA;;CR;{right};;{sid(principal)})")
    for principal in plan["adminsdholder"]:
        acl.dacl_add_ace(f"CN=AdminSDHolder,CN=System,{base}", f"(A;;GA;;;{sid(principal)})")
    domain_sid = security.dom_sid(str(db.get_domain_sid()))
    for account in plan["accounts"]:
        dn = dns.get(account["sam"]) or lookup_dn(db, base, account["sam"])
        if account.get("owner"):
            owner = security.descriptor.from_sddl(f"O:{sid(account['owner'])}", domain_sid)
            replace(db, dn, {"nTSecurityDescriptor": ndr_pack(owner)}, ["sd_flags:1:1"])
        if account.get("rbcd_from"):
            aces = "".join(
                f"(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;{sid(s)})" for s in account["rbcd_from"]
            )
            value = security.descriptor.from_sddl(f"O:BAD:{aces}", domain_sid)
            replace(db, dn, {"msDS-AllowedToActOnBehalfOfOtherIdentity": ndr_pack(value)})


def main():
    job = json.load(sys.stdin)
    lp = LoadParm()
    lp.load(job["smb_conf"])
    lp.set("dsdb:schema update allowed", "yes")
    if job.get("populate"):
        # Outside batch mode: schemaUpdateNow needs a transaction of its own.
        extend_schema_for_laps(SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp))
    # Batch mode drops ldb's per-operation sub-transactions, whose index bookkeeping makes each
    # add cost O(users so far): 10,000 users took ~80 s without it and ~11 s with it. The
    # price is that any failure poisons the whole transaction, which is cancelled anyway.
    db = SamDB(
        url=lp.samdb_url(),
        session_info=system_session(),
        lp=lp,
        options=["batch_mode:1", "transaction_index_cache_size:202481"],
    )
    base = str(db.domain_dn())
    db.setpassword(
        f"(sAMAccountName={job['admin_user']})",
        job["admin_password"],
        force_change_at_next_login=False,
    )
    # Accounts whose password the lab hands keyturn (the service accounts it rotates).
    for sam, password in (job.get("passwords") or {}).items():
        db.setpassword(f"(sAMAccountName={sam})", password, force_change_at_next_login=False)
    plan = job.get("populate")
    dns = {}
    if plan:
        for ou in plan["ous"]:
            db.add({"dn": f"{ou},{base}", "objectClass": "organizationalUnit"})
        add_accounts(db, plan, job["dns_name"], base, dns)
        add_groups(db, plan, base, dns)
        set_state(db, plan, base, dns)
        plant(db, plan, base, dns)
    json.dump(
        {
            "domain_sid": str(db.get_domain_sid()),
            "dnsadmins_sid": sid_of(db, lookup_dn(db, base, "DnsAdmins")),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
