"""Load: 20 keyturn processes for 20 clients rotate at once into ONE PostgreSQL store and
ONE vault, while 2 more race on the same client. Nothing is lost (every client's rotation
row, audit chain and vault password are there, and the password logs in), exactly one of
the racing pair proceeds (the other exits 3 at once), and nobody deadlocks (all finish
within the timeout)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from inventory.pg import PgStore
from lab.simulators import control
from tests.conftest import KEYTURN
from tests.pg_fixtures import pg, pg_url
from tests.rotation_helpers import ENABLE, OLD, DevicePool, login_works
from tests.vault_fixtures import bao

__all__ = ["bao", "pg", "pg_url"]

CLIENTS = 20


@pytest.fixture(scope="module")
def devices(tmp_path_factory: pytest.TempPathFactory):
    pool = DevicePool(tmp_path_factory.mktemp("load-sims"))
    yield pool
    pool.stop()


def client_site(root: Path, client: str, device, env: dict[str, str]) -> tuple[Path, Path]:
    folder = root / client
    folder.mkdir()
    config = folder / "site.toml"
    config.write_text(f'client = "{client}"\nscope = ["127.0.0.0/8"]\n')
    targets = folder / "targets.toml"
    targets.write_text(
        f'[[device]]\nhost = "{device.host}"\nport = {device.port}\n'
        f'platform = "{device.platform}"\nusername = "admin"\n'
    )
    csv = folder / "creds.csv"
    csv.write_text(
        "host,username,password,enable_secret,platform\n"
        f"{device.host},admin,{OLD},{ENABLE},{device.platform}\n"
    )
    out = subprocess.run(
        [KEYTURN, "--config", str(config), "secrets", "import", str(csv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return config, targets


def start_rotate(config: Path, targets: Path, env: dict[str, str], out: Path):
    return subprocess.Popen(
        [
            KEYTURN,
            "--config",
            str(config),
            "rotate",
            "--targets",
            str(targets),
            "--yes",
            "--json",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_twenty_clients_at_once_and_a_racing_pair(devices, pg_url, bao, cli_env, tmp_path):
    env = {
        **cli_env,
        "KEYTURN_STORE": pg_url,
        "KEYTURN_SECRETS_BACKEND": "vault",
        "KEYTURN_SECRETS_ADDRESS": bao.address,
        "VAULT_TOKEN": bao.token(),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    kinds = ["cisco_ios"] * 12 + ["fortinet"] * 4 + ["juniper_junos"] * 4
    sites = {}
    for number, kind in enumerate(kinds):
        device = devices.take(kind)
        sites[f"client{number:02d}"] = (
            device,
            *client_site(tmp_path, f"client{number:02d}", device, env),
        )
    racer = devices.take("cisco_ios")
    race_config, race_targets = client_site(tmp_path, "race", racer, env)
    # The racing device answers slowly, so the winner still holds the lock when the
    # loser asks for it.
    control.set_faults(racer.state_dir, slow_seconds=0.5)

    started = time.monotonic()
    procs = {
        client: start_rotate(config, targets, env, tmp_path / client / "out.json")
        for client, (_, config, targets) in sites.items()
    }
    race = [
        start_rotate(race_config, race_targets, env, tmp_path / "race" / f"out{i}.json")
        for i in (1, 2)
    ]
    # A deadlock fails here (communicate times out).
    errors = {proc: proc.communicate(timeout=600)[1] for proc in [*procs.values(), *race]}
    elapsed = time.monotonic() - started
    print(f"\n{CLIENTS} clients + racing pair rotated in {elapsed:.1f} s")

    for client, proc in procs.items():
        assert proc.returncode == 0, (client, errors[proc])
        [result] = json.loads((tmp_path / client / "out.json").read_text())["results"]
        assert result["status"] == "rotated", (client, result)

    codes = sorted(proc.returncode for proc in race)
    assert codes == [0, 3], codes
    loser = next(proc for proc in race if proc.returncode == 3)
    # On one machine the per-client file lock answers first; across machines the store's
    # advisory lock does (tests/test_store_pg.py): the same refusal either way.
    assert re.search(r"another keyturn run holds client '?race'? ", errors[loser]), errors[loser]
    control.clear_faults(racer.state_dir)

    # Nothing lost: each client's row in its own schema, its password in the vault.
    for client, (device, config, _) in [*sites.items(), ("race", (racer, race_config, None))]:
        with PgStore(pg_url, client) as store:
            rows = store.db.execute("SELECT status, host FROM rotations").fetchall()
            assert [tuple(r) for r in rows] == [("rotated", device.host)], client
        reveal = subprocess.run(
            [KEYTURN, "--config", str(config), "secrets", "get", device.host, "admin", "--reveal"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert reveal.returncode == 0, reveal.stderr
        assert login_works(device, reveal.stdout.strip()), client
