"""The same job, run as a standalone command and as an onboard stage, does the same thing:
the same audit events (with the same fields) and the same checklist effects (issue 12); a
standalone rotate marks its checklist item changed, as onboard always did.

Real processes against a real simulated IOS device on a loopback address of its own; the
scope is that one address, so discover's sweep never leaves loopback. The directory audit
is not configured here (both sides skip it); its request builder is shared by construction
and its event is checked in tests/test_ad_lab.py's lab runs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import KEYTURN
from tests.rotation_helpers import ENABLE, OLD, pool
from tests.test_rotation_cli import Site

__all__ = ["pool"]

# Fields that differ between any two runs, whoever starts them.
VOLATILE = {"seq", "time", "hmac", "prev", "run_id", "host", "files", "discover_run", "ad_run"}


def site_for(tmp_path: Path, device) -> Path:
    targets = tmp_path / "targets.toml"
    targets.write_text(
        f'[[device]]\nhost = "{device.host}"\nport = {device.port}\n'
        f'platform = "{device.platform}"\nusername = "admin"\n'
    )
    site = tmp_path / "site.toml"
    site.write_text(
        f'client = "acme"\nscope = ["{device.host}/32"]\n[discover]\nnmap = false\n'
        f'[rotation]\ntargets = "{targets}"\n'
        f'[report]\nformats = ["json"]\nout_dir = "{tmp_path / "reports"}"\n'
    )
    return site


def keyturn(env: dict, site: Path, store: Path, *args: str) -> subprocess.CompletedProcess:
    # In the test's folder: commands write their default output folders (topology's
    # ./keyturn-topology-<client>) into the current one, which is otherwise the checkout.
    result = subprocess.run(
        [KEYTURN, "--config", str(site), "--non-interactive", *args], cwd=site.parent,
        capture_output=True, text=True, env={**env, "KEYTURN_STORE": str(store)}, timeout=180,
    )  # fmt: skip
    assert result.returncode in (0, 1), f"{args}: {result.stdout}{result.stderr}"
    return result


def events(store: Path) -> list[tuple[str, str, list[str]]]:
    """(action, outcome, detail fields) of every audit line but onboard's own two."""
    lines = store.with_name(store.stem + ".audit.jsonl").read_text().splitlines()
    found = []
    for entry in map(json.loads, lines):
        if entry["action"].startswith("onboard."):
            continue
        detail = entry["detail"]
        fields = sorted(k for k in detail if k not in VOLATILE)
        found.append((entry["action"], entry["outcome"], fields))
    return found


def checklist(env: dict, site: Path, store: Path) -> list[tuple]:
    listed = json.loads(keyturn(env, site, store, "checklist", "--json", "-").stdout)
    return sorted(
        (i["kind"], i["target"], i["account"], i["handling"], i["state"], bool(i["rotation_id"]))
        for i in listed
    )


def test_standalone_commands_and_onboard_record_the_same(pool, cli_env, tmp_path):
    device = pool.take("cisco_ios")
    site = site_for(tmp_path, device)
    csv = tmp_path / "creds.csv"
    csv.write_text(f"host,username,password,enable_secret,platform\n"
                   f"{device.host},admin,{OLD},{ENABLE},{device.platform}\n")  # fmt: skip
    alone, together = tmp_path / "alone" / "acme.db", tmp_path / "onboard" / "acme.db"
    keyturn(cli_env, site, alone, "secrets", "import", str(csv))

    # The jobs one at a time, as an operator would type them (the one keyring is shared:
    # the onboard run below rotates the password this run set).
    keyturn(cli_env, site, alone, "discover")
    keyturn(cli_env, site, alone, "topology")  # onboard's stage after discovery (issue 20)
    keyturn(cli_env, site, alone, "rotate", "--yes")
    keyturn(cli_env, site, alone, "checklist", "prefill")
    keyturn(cli_env, site, alone, "report")
    # The same jobs as onboard's stages, into a store of their own.
    keyturn(cli_env, site, together, "onboard", "--rotate", "--yes")

    standalone, onboarded = events(alone), events(together)
    # The keyring import is no onboard stage; everything after it must match.
    assert standalone[0][0] == "secrets.import"
    assert standalone[1:] == onboarded
    actions = [action for action, _outcome, _fields in onboarded]
    for expected in ("discover.scan", "checklist.prefill", "rotate.result", "checklist.mark",
                     "report.write"):  # fmt: skip
        assert expected in actions, actions
    # The topology stage read the device on the targets file's port (the keyring has none).
    assert ("topology.collect", "ok") in [(a, o) for a, o, _f in onboarded]
    scan = next(f for a, _o, f in onboarded if a == "discover.scan")
    assert {"scope", "interfaces", "hosts", "new", "gone"} <= set(scan)

    items = checklist(cli_env, site, alone)
    assert items == checklist(cli_env, site, together)
    changed = [i for i in items if i[1] == device.host]
    assert changed == [("other_network_device", device.host, "admin", "automatic", "changed",
                        True)]  # fmt: skip


def test_a_standalone_rotate_marks_its_checklist_item_changed(pool, cli_env, tmp_path):
    # Issue 12: `keyturn rotate` left the item `inherited`; only onboard marked it.
    device = pool.take("cisco_ios")
    site = Site(tmp_path, cli_env, [device])
    added = site.run(
        "checklist", "add", "--kind", "switch", "--target", device.host, "--account", "admin"
    )
    assert added.returncode == 0, added.stderr
    run = site.rotate()
    assert run.returncode == 0, run.stdout + run.stderr
    [item] = json.loads(site.run("checklist", "--json", "-").stdout)
    assert (item["kind"], item["target"], item["account"]) == ("switch", device.host, "admin")
    assert item["state"] == "changed" and item["rotation_id"] and item["decided_by"] == "tester"
    assert f"rotated by keyturn (rotation {item['rotation_id']})" == item["note"]
    shown = site.run("audit", "show").stdout
    assert f"checklist.mark checklist item {item['id']}: changed" in shown
    dry = site.rotate("--dry-run")  # a dry run changes nothing, so it marks nothing
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert site.run("audit", "show").stdout.count("checklist.mark") == 1
