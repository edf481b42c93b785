"""Bad input to any command: one line on stderr, exit 2 (usage) or 3 (failure), never a
traceback. Every case here is refused before a packet is sent (scope guard, parsing)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import KEYTURN


def keyturn(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KEYTURN, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


CASES = [
    (["discover", "--scope", "8.8.8.0/24"], 2, "public address range in scope"),
    (["discover", "--scope", "198.18.0.0/33"], 2, "not a valid CIDR or address"),
    (["discover", "--scope", "10.0.0.0/8"], 2, "more than the"),
    (["discover", "--scope", "198.18.0.1", "--ports", "abc"], 2, "--ports takes 'top100'"),
    # --json into a folder fails at parsing, not after the scan or rotation has run.
    (["discover", "--scope", "198.18.0.1", "--json", "a-folder"], 2, "is a directory"),
    (["rotate", "--targets", "bad.toml", "--json", "a-folder"], 2, "is a directory"),
    (["ad", "--json", "a-folder"], 2, "is a directory"),
    (["report", "--run", "999"], 2, "--run 999: no such run"),
    (["checklist", "mark", "999", "changed"], 2, "no checklist item 999"),
    (["audit", "show", "--run", "999"], 2, "--run 999: no such run"),
    (["audit", "show", "--since", "yesterday"], 2, "not an ISO date"),
    (["ad"], 2, "name the bind account"),
    (["verify"], 2, "--targets FILE.toml or --from-inventory"),
    (["secrets", "get", "198.18.0.1", "admin"], 2, "add --reveal"),
    (["secrets", "import", "missing-columns.csv"], 2, "missing column(s)"),
    (["secrets", "import", "short-row.csv"], 2, "short-row.csv:2: host, username and password"),
    (["secrets", "import", "long-row.csv"], 2, "long-row.csv:2: more fields than columns"),
    (["secrets", "import", "binary.toml"], 2, "binary.toml: not UTF-8 text"),
    (["secrets", "import", "unclosed.csv"], 2, "unclosed quote?"),
    (["secrets", "import", "twice.csv"], 2, "admin@198.18.0.1 is listed twice"),
    (["rotate", "--targets", "binary.toml"], 2, "binary.toml: not UTF-8 text"),
    (["rotate", "--targets", "bad.toml"], 2, "not valid TOML"),
    (["rotate", "--targets", "no-devices.toml"], 2, "no [[device]] tables"),
    (["--config", "bad.toml", "discover"], 2, "not valid TOML"),
    (["--config", "unknown-key.toml", "discover"], 2, "unknown key 'nosuch'"),
    (["--config", "a-folder", "doctor"], 2, "is a directory"),
    (["--config", "binary.toml", "report"], 2, "binary.toml: not UTF-8 text"),
    (["--config", "bad-client.toml", "report"], 2, "bad value for 'client'"),
    (["--store", "garbage.db", "checklist"], 3, "not a usable keyturn store"),
    (["lab", "down", "nonexist"], 2, "not a lab id"),
    (["lab", "status", "kt000000"], 2, "no lab kt000000 on this machine"),
]


@pytest.mark.parametrize(("args", "code", "message"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_is_one_line_and_an_exit_code(cli_env, tmp_path, args, code, message):
    (tmp_path / "missing-columns.csv").write_text("garbage,,x\n1,2,3\n")
    (tmp_path / "bad.toml").write_text("[[[\n")
    header = "host,username,password\n"
    (tmp_path / "short-row.csv").write_text(header + "198.18.0.1\n")
    (tmp_path / "long-row.csv").write_text(header + "198.18.0.1,admin,pw-1,extra\n")
    (tmp_path / "unclosed.csv").write_text(header + '198.18.0.1,admin,"pw-1\n198.18.0.2,a,b\n')
    (tmp_path / "twice.csv").write_text(
        header + "198.18.0.1,admin,Password-One-1\n198.18.0.1,admin,Password-Two-2\n"
    )
    (tmp_path / "no-devices.toml").write_text("targets = 3\n")
    (tmp_path / "unknown-key.toml").write_text('client = "acme"\n[nosuch]\nx = 1\n')
    (tmp_path / "bad-client.toml").write_text('client = "a/b"\n')
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00 utf-16 or a zip, not TOML")
    (tmp_path / "garbage.db").write_text("not a database, just text " * 10)
    result = keyturn(cli_env, tmp_path, *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    # Exactly one error line (click's own usage errors add a usage and a --help hint).
    errors = [
        line
        for line in result.stderr.splitlines()
        if line.startswith(("keyturn: error:", "Error:"))
    ]
    assert len(errors) == 1, result.stderr
    assert "warning" not in result.stderr  # the one line, not a cascade of follow-on warnings
