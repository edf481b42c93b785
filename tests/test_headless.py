"""Issue 13 item 6: the keyring on a headless machine, through the real CLI with stdin closed
(`<&-`). Nothing prompts; a keyring that is not set up is one line naming what to set (exit
2); a plaintext backend anywhere in keyring's chain is refused and `doctor` says so; a
reading command creates no keyring entry; a closed stdin is "not a terminal" everywhere."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import KEYTURN


def closed_stdin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """keyturn ARGS <&- : descriptor 0 closed, as cron or a careless wrapper leaves it."""
    return subprocess.run(
        [KEYTURN, *args], env=env, capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: os.close(0),
    )  # fmt: skip


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    """A new user's machine: no keyring configured at all (keyring picks its own chain)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON_KEYRING", "KEYRING_", "KEYTURN_"))
    }
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        KEYTURN_STORE=str(tmp_path / "store" / "c.db"),
        KEYTURN_OPERATOR="tester",
        AD_PW="Inherited-Pw-2026x",
    )
    return env


def assert_one_line(result: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("keyturn: error: ")
    for needle in needles:
        assert needle in line
    assert "Please set a password" not in result.stdout + result.stderr
    assert "unexpected" not in line
    return line


def test_no_keyring_configured_is_one_line_naming_the_settings(bare_env):
    result = closed_stdin(
        bare_env,
        "--scope",
        "127.0.0.0/8",
        "secrets",
        "set",
        "127.0.0.5",
        "admin",
        "--password-env",
        "AD_PW",
    )
    assert_one_line(result, 2, "PYTHON_KEYRING_BACKEND", "KEYRING_CRYPTFILE_PASSWORD",
                    "docs/jump-host.md", "PlaintextKeyring")  # fmt: skip


def test_a_locked_encrypted_keyring_never_prompts(bare_env, tmp_path):
    env = bare_env | {"PYTHON_KEYRING_BACKEND": "keyrings.cryptfile.cryptfile.CryptFileKeyring"}
    for args in (
        [
            "--scope",
            "127.0.0.0/8",
            "secrets",
            "set",
            "127.0.0.5",
            "admin",
            "--password-env",
            "AD_PW",
        ],
        ["secrets", "list"],
        ["checklist", "add", "--kind", "vpn_access", "--target", "VPN"],  # signs an entry
    ):
        result = closed_stdin(env, *args)
        assert_one_line(result, 2, "KEYRING_CRYPTFILE_PASSWORD", "KEYTURN_KEYRING_PASSWORD_FILE",
                        "docs/jump-host.md")  # fmt: skip
    assert not list((tmp_path / "data").rglob("*.cfg"))  # no keyring file was created


def test_doctor_names_the_plaintext_backend_in_the_chain(bare_env):
    result = closed_stdin(bare_env, "doctor")
    assert result.returncode == 1
    [line] = [x for x in result.stdout.splitlines() if x.startswith(("ok keyring", "FAIL keyring"))]
    assert line.startswith("FAIL keyring: ") and "PlaintextKeyring" in line
    assert "not plaintext" not in result.stdout


def test_doctor_lists_the_chain_when_it_is_usable(cli_env):
    result = closed_stdin(cli_env, "doctor")
    [line] = [x for x in result.stdout.splitlines() if "keyring:" in x]
    assert line == (
        "ok keyring: lab.keyring_backend.LabCryptFileKeyring usable "
        "(no plaintext backend in the chain)"
    )


def test_reading_commands_create_no_keyring_entries(bare_env, tmp_path):
    env = bare_env | {"PYTHON_KEYRING_BACKEND": "keyrings.cryptfile.cryptfile.CryptFileKeyring"}
    result = closed_stdin(env, "audit", "verify")
    assert (result.returncode, result.stdout.strip()) == (0, "audit log intact: 0 entries")
    result = closed_stdin(env, "audit", "show")
    assert result.returncode == 0 and result.stdout == ""
    assert not (tmp_path / "data" / "python_keyring").exists()


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (
            ["--scope", "127.0.0.0/8", "secrets", "set", "127.0.0.5", "admin"],
            2,
            "pass --password-env VAR",
        ),
        (["checklist", "add", "--kind", "vpn_access", "--target", "VPN"], 0, ""),
        (["checklist"], 0, ""),
        (["audit", "show"], 0, ""),
        (["report", "--format", "md"], 0, ""),
        (["ad", "--server", "127.0.0.1", "--user", "a@b.c", "--password-prompt"], 2, "terminal"),
    ],
)
def test_closed_stdin_is_not_a_terminal(cli_env, tmp_path, args, code, needle):
    result = subprocess.run(
        [KEYTURN, *args], env=cli_env, capture_output=True, text=True, timeout=120,
        cwd=tmp_path, preexec_fn=lambda: os.close(0),
    )  # fmt: skip
    assert result.returncode == code, result.stdout + result.stderr
    assert "isatty" not in result.stderr and "unexpected" not in result.stderr
    assert needle in result.stderr
