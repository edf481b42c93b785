"""keyturn init: the generated site config loads as written and with every example filled in."""

from __future__ import annotations

import re
import subprocess
import tomllib

from agent import config
from tests.conftest import KEYTURN


def test_init_writes_a_config_that_loads_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "acme.toml"
    first = subprocess.run(
        [KEYTURN, "init", "--client", "acme", "--out", str(out)], capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    loaded = config.load(out, environ={})
    assert loaded.client == "acme" and loaded.scope == [] and loaded.ad.server is None
    assert loaded.rotation.enabled is False and loaded.report.formats == ["html"]
    text = out.read_text()
    for key in ("scope", "exclude", "[ad]", "domain", "server", "user", "transport", "ca_file",
                "[rotation]", "enabled", "classes", "platforms", "accounts", "password_length",
                "parallel", "[report]", "formats", "out_dir"):  # fmt: skip
        assert key in text, key
    out.write_text(text + "# operator's edits\n")
    second = subprocess.run(
        [KEYTURN, "init", "--client", "acme", "--out", str(out)], capture_output=True, text=True
    )
    assert second.returncode == 2
    assert "already exists" in second.stderr
    assert out.read_text().endswith("# operator's edits\n")


def test_every_commented_example_is_a_valid_value(tmp_path):
    """Uncomment each '# key = value' example (replacing the default it follows) and load."""
    out = tmp_path / "acme.toml"
    subprocess.run([KEYTURN, "init", "--client", "acme", "--out", str(out)], check=True)
    lines = out.read_text().splitlines()
    filled, examples = [], 0
    for line in lines:
        match = re.match(r"^# ([a-z_]+) = (.+)$", line)
        if match:
            key = match.group(1)
            filled = [kept for kept in filled if not kept.startswith(f"{key} = ")]
            filled.append(line[2:])
            examples += 1
        else:
            filled.append(line)
    assert examples >= 12
    path = tmp_path / "filled.toml"
    path.write_text("\n".join(filled) + "\n")
    tomllib.loads(path.read_text())
    loaded = config.load(path, environ={})
    assert loaded.scope == ["192.168.10.0/24", "10.20.0.0/22"]
    assert loaded.ad.server == "192.168.10.5" and loaded.ad.user == "CORP\\keyturn-audit"
    assert loaded.rotation.password_length == 24 and loaded.rotation.platforms == [
        "cisco_ios", "fortinet"
    ]  # fmt: skip


def test_init_refuses_a_client_name_the_config_would_reject(tmp_path):
    result = subprocess.run(
        [KEYTURN, "init", "--client", "../etc", "--out", str(tmp_path / "x.toml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "client name" in result.stderr
    assert not (tmp_path / "x.toml").exists()
