"""What a lab writes down besides its state: the passwords it makes, the keyring entries that
hold them, and the site config keyturn commands read inside the lab."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from agent.core.secret import Secret
from lab import topology
from lab.topology import DEVICE_USER, LINUX_ADMIN, HostSpec

if TYPE_CHECKING:
    from lab.site import Lab


def password(platform: str | None = None, length: int = 20) -> Secret:
    """A password the platform's own policy accepts, by construction: rotation's generator
    puts in every character class (lower, upper, digit, a CLI-safe symbol), which also meets
    Samba's complexity rule. Letters and digits drawn at random missed a class now and then,
    and Samba refused the DC's admin password (one `lab up` in four in the field trial)."""
    from rotation.drivers import driver_for
    from rotation.policy import PasswordPolicy

    policy = driver_for(platform).policy if platform else PasswordPolicy()
    return policy.generate(length)


def seed_keyring(
    lab: Lab, hosts: list[HostSpec], passwords: dict[str, Secret], ad: dict[str, Secret]
) -> None:
    """The lab's passwords into its client's keyring: devices and hosts by address, the
    DC's Administrator (``ad[""]``) and service accounts (kind ad) under the DC's address."""
    from agent.core.secret_store import SecretStore

    store = SecretStore(lab.client)
    for host in hosts:
        entry = lab.host(host.name)
        if host.smb and host.name in passwords:
            # Kind windows_local: the built-in Administrator by its RID, whatever its name.
            store.put(host.ip, "rid:500", passwords[host.name], "current",
                      platform="windows_local")  # fmt: skip
        elif host.name in passwords:
            user = LINUX_ADMIN if host.local_admin else DEVICE_USER
            store.put(host.ip, user, passwords[host.name], "current", platform=entry["platform"])
        if host.name + "/enable" in passwords:
            store.put(
                host.ip,
                "enable",
                passwords[host.name + "/enable"],
                "current",
                platform=entry["platform"],
            )
    if ad:
        server = lab.manifest["ad"]["server"]
        store.put(server, lab.manifest["ad"]["admin_user"], ad[""], "current",
                  platform="active_directory")  # fmt: skip
        for sam, password in ad.items():
            if sam:
                store.put(server, sam, password, "current", platform="ad")


def write_site_config(lab: Lab, community: str) -> None:
    scope = (
        [str(topology.LARGE)]
        if lab.state.size == "large"
        else [str(topology.LAN), str(topology.ROUTED)]
    )
    lines = [
        f"# keyturn site config for lab {lab.lab_id} (written by keyturn lab up)",
        f"client = {json.dumps(lab.client)}",
        f"scope = {json.dumps(scope)}",
        "exclude = []",
        f"store = {json.dumps(str(lab.store_path))}",
        "",
        "[discover]",
        f"snmp_communities = {json.dumps([community])}",
        f"iface = {json.dumps(lab.manifest['tech']['iface'])}",
    ]
    ad = lab.manifest.get("ad")
    if ad:
        lines += [
            "",
            "[ad]",
            f"domain = {json.dumps(ad['dns_name'].split('.', 1)[1])}",
            f"server = {json.dumps(ad['server'])}",
            f"ca_file = {json.dumps(ad['ca_file'])}",
            f"user = {json.dumps(ad['admin_user'])}",
            'transport = "ldaps"',
        ]
    lines += ["", "[rotation]", "enabled = true"]
    # Every command refuses this config outside the technician namespace: from the root
    # namespace 198.18.0.0/15 routes out of the machine's real interface.
    lines += ["", "[lab]", f"id = {json.dumps(lab.lab_id)}",
              f"technician_netns = {json.dumps(lab.tech_ns)}", ""]  # fmt: skip
    lab.site_config_path.write_text("\n".join(lines))


def forget_secrets(client: str) -> None:
    """Best effort: the lab's keyring entries are worthless once its devices are gone."""
    try:
        from agent.core.secret_store import SecretStore

        store = SecretStore(client)
        for entry in store.entries():
            for version in entry.versions:
                store.drop(entry.host, entry.user, version)
    except Exception:  # noqa: S110 - a missing/locked keyring must not block teardown
        pass
