"""--from-inventory: the latest discover run's hosts with a platform become targets, with
the accounts stored for them; plus the driver contract and the password policies."""

from __future__ import annotations

import inspect
import json
import string
import subprocess

import pytest

from agent.core.secret import Secret
from inventory import hosts
from inventory.store import Store
from lab.simulators import launch
from rotation.contract import Driver
from rotation.drivers import DRIVERS, driver_for
from rotation.drivers.ssh import SshDriver
from rotation.policy import SAFE_SYMBOLS, PasswordPolicy
from tests.conftest import KEYTURN
from tests.rotation_helpers import ENABLE, OLD, login_works
from tests.rotation_helpers import Device as SimDevice


def test_from_inventory_rotates_discovered_routers_only(cli_env, tmp_path):
    # Inventory has no port: the simulated router listens on port 22 of its own address.
    router = SimDevice("inv-router", "cisco_ios", "127.4.0.1", 22, tmp_path / "router")
    spec = {
        "devices": [
            {
                "name": router.name,
                "platform": "cisco_ios",
                "listen": f"{router.host}:22",
                "state_dir": str(router.state_dir),
                "hostname": "inv",
                "users": {"admin": {"password": OLD}},
                "enable_secret": ENABLE,
            }
        ]
    }
    sim = launch(spec, tmp_path / "spec.json")
    try:
        store = Store(tmp_path / "store" / "client.db")
        run_id = store.begin_run("discover", "tester", "acme")
        hosts.save(
            store,
            run_id,
            {
                "hosts": [
                    {
                        "ip": router.host,
                        "mac": "02:00:00:00:00:01",
                        "device_class": "router",
                        "platform": "cisco_ios",
                    },
                    {
                        "ip": "127.4.0.2",
                        "mac": "02:00:00:00:00:02",
                        "device_class": "printer",
                        "platform": "linux",
                    },
                    {"ip": "127.4.0.3", "mac": "02:00:00:00:00:03", "device_class": "router"},
                ]
            },
        )
        store.finish_run(run_id, "ok")
        store.close()
        config = tmp_path / "site.toml"
        config.write_text('client = "acme"\nscope = ["127.0.0.0/8"]\n')
        csv = tmp_path / "creds.csv"
        csv.write_text(
            f"host,username,password,enable_secret,platform\n"
            f"{router.host},admin,{OLD},{ENABLE},cisco_ios\n"
            f"127.4.0.2,root,Printer-Pass-123,,linux\n"
        )

        def keyturn(*args):
            return subprocess.run(
                [KEYTURN, "--config", str(config), *args],
                env=cli_env,
                capture_output=True,
                text=True,
                timeout=120,
            )

        assert keyturn("secrets", "import", str(csv)).returncode == 0
        run = keyturn(
            "rotate", "--from-inventory", "--class", "router,firewall", "--yes", "--json", "-"
        )
        assert run.returncode == 0, run.stderr
        [result] = json.loads(run.stdout)["results"]
        assert (result["host"], result["username"], result["status"]) == (
            router.host,
            "admin",
            "rotated",
        )
        new = keyturn("secrets", "get", router.host, "admin", "--reveal").stdout.strip()
        assert login_works(router, new) and not login_works(router, OLD)
    finally:
        sim.terminate()
        sim.wait()


def test_every_driver_honours_the_contract():
    verbs = [
        "preflight",
        "open",
        "account_exists",
        "change",
        "save",
        "discard",
        "revert",
        "verify",
        "close",
    ]
    for platform in DRIVERS:
        driver = driver_for(platform)
        assert issubclass(driver, Driver) and driver.platform == platform
        assert not inspect.isabstract(driver), platform
        if issubclass(driver, SshDriver):
            assert driver.device_type, platform
        for verb in verbs:
            # Same parameters; a narrower return type is allowed.
            assert (
                inspect.signature(getattr(driver, verb)).parameters
                == inspect.signature(getattr(Driver, verb)).parameters
            ), (platform, verb)


def test_unknown_platform_error_lists_the_valid_ones():
    from agent.core.errors import UsageError

    with pytest.raises(UsageError, match=r"valid: (ad, )?arista_eos, aruba_aoscx, cisco_asa"):
        driver_for("cisco_xr")


@pytest.mark.parametrize("platform", sorted(DRIVERS))
def test_generated_passwords_fit_the_platform(platform):
    policy = driver_for(platform).policy
    for length in (None, 12, 200):
        secret = policy.generate(length)
        value = secret.reveal()
        assert policy.accepts(secret)
        assert len(value) == policy.length_for(length)
        assert not set(value) & set("?\\\"' #>$!")
        assert value[0].isalnum() and value[-1].isalnum()
        for group in (string.ascii_lowercase, string.ascii_uppercase, string.digits):
            assert set(value) & set(group)


def test_policy_caps_and_symbols():
    assert driver_for("cisco_ios").policy.length_for(40) == 25
    assert driver_for("mikrotik_routeros").policy.symbols == "-_.+@"
    assert PasswordPolicy().length_for(None) == 24
    assert not PasswordPolicy().accepts(Secret("has space in it 123Aa"))
    assert "?" not in SAFE_SYMBOLS and "\\" not in SAFE_SYMBOLS


def test_account_repeats_and_the_single_form_still_works(tmp_path):
    """--account a --account b: both accounts, from the inventory and from a targets file;
    rid:N only ever names a Windows local account."""
    from rotation.targets import load_targets_file, targets_from_inventory

    hosts = [
        {"ip": "198.18.0.1", "platform": "cisco_ios", "ports": []},
        {"ip": "198.18.0.51", "platform": "windows_local", "ports": []},
    ]

    def stored(ip: str) -> list[str]:
        return ["admin", "backup", "rid:500"]

    def pairs(targets) -> list[tuple[str, str]]:
        return [(t.host, t.username) for t in targets]

    assert pairs(targets_from_inventory(hosts, stored, "admin")) == [
        ("198.18.0.1", "admin"), ("198.18.0.51", "admin"),
    ]  # fmt: skip
    assert pairs(targets_from_inventory(hosts, stored, ("admin", "rid:500"))) == [
        ("198.18.0.1", "admin"), ("198.18.0.51", "admin"), ("198.18.0.51", "rid:500"),
    ]  # fmt: skip
    assert pairs(targets_from_inventory(hosts, stored, ["rid:500"])) == [("198.18.0.51", "rid:500")]
    path = tmp_path / "targets.toml"
    path.write_text(
        '[[device]]\nhost = "198.18.0.1"\nplatform = "cisco_ios"\nusername = "admin"\n'
        '[[device]]\nhost = "198.18.0.2"\nplatform = "cisco_ios"\n'
        '[[device]]\nhost = "198.18.0.3"\nplatform = "cisco_ios"\nusername = "other"\n'
    )
    assert pairs(load_targets_file(path, "admin")) == [
        ("198.18.0.1", "admin"), ("198.18.0.2", "admin"),
    ]  # fmt: skip
    assert pairs(load_targets_file(path, ["admin", "backup"])) == [
        ("198.18.0.1", "admin"), ("198.18.0.2", "admin"), ("198.18.0.2", "backup"),
    ]  # fmt: skip
    with pytest.raises(Exception, match="--account"):
        targets_from_inventory(hosts, stored, ["admin", "bad;name"])


def test_onboard_targets_take_windows_hosts_and_service_accounts(keyring_env, tmp_path):
    """What onboard's rotate stage takes (issue 14), from a store and a keyring alone: the
    devices, the Windows hosts' stored local accounts, the service accounts with a stored
    password, the bound [ad] account last; a LAPS computer skipped; a domain credential
    stored under the DC's address never offered to SAMR."""
    from agent.context import AppContext
    from agent.ops.rotate import onboard_targets
    from inventory.directory import DOCUMENT_KIND
    from inventory.rotations import write_document
    from tests.test_checklist import write_ad_run, write_discover_run

    config = tmp_path / "acme.toml"
    config.write_text(
        'client = "acme"\nscope = ["198.18.0.0/24"]\n'
        '[ad]\nserver = "198.18.0.10"\nuser = "svc_bind"\ndomain = "corp.example.com"\n'
    )
    app = AppContext(config_path=str(config), store_path=str(tmp_path / "acme.db"),
                     non_interactive=True)  # fmt: skip
    write_discover_run(app.store, [
        ("198.18.0.1", "02:00:00:00:00:01", "router", "cisco_ios", "gw1", [22]),
        ("198.18.0.10", "02:00:00:00:00:10", "server", None, "DC1", [389, 445, 636]),
        ("198.18.0.11", "02:00:00:00:00:11", "server", None, "FS01", [445]),
        ("198.18.0.50", "02:00:00:00:00:50", "workstation", None, "WS01", [445]),
        ("198.18.0.51", "02:00:00:00:00:51", "workstation", None, "WS02", [445]),
    ])  # fmt: skip
    run_id = write_ad_run(app.store, [
        (1201, "svc_bind", "user", True, ["HTTP/web1"]),
        (1202, "svc_sql", "user", True, ["MSSQLSvc/fs01:1433"]),
        (1203, "svc_unknown", "user", True, ["HTTP/old"]),
        (1204, "FS01$", "computer", True, []),
    ], [])  # fmt: skip
    with app.store.transaction() as db:
        db.execute(
            "UPDATE directory_objects SET attributes = ? WHERE sam = 'FS01$'",
            (json.dumps({"laps": "legacy", "dns_host_name": "fs01.corp.example.com"}),),
        )
    write_document(app.store, run_id, DOCUMENT_KIND, {"run_id": run_id})
    keys = app.secret_store
    keys.put("198.18.0.1", "admin", Secret(OLD), platform="cisco_ios")
    for ip in ("198.18.0.11", "198.18.0.50"):
        keys.put(ip, "rid:500", Secret(OLD), platform="windows_local")
    for sam in ("svc_bind", "svc_sql"):
        keys.put("198.18.0.10", sam, Secret(OLD), platform="ad")
    targets, skipped = onboard_targets(app)
    app.close()
    assert [(t.host, t.platform, t.username) for t in targets] == [
        ("198.18.0.1", "cisco_ios", "admin"),
        ("198.18.0.50", "windows_local", "rid:500"),
        ("198.18.0.10", "ad", "svc_sql"),
        ("198.18.0.10", "ad", "svc_bind"),  # the bound account, last
    ]
    [laps] = skipped
    assert (laps.host, laps.status) == ("198.18.0.11", "skipped") and "LAPS" in laps.error
