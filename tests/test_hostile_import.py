"""Issue 13, item 1 (the import side): an inherited CSV, a `secrets set` or a targets file is
hostile input. Each case from the issue is refused with one line naming the file and line
(exit 2) and leaves nothing in the keyring."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from agent.core.errors import UsageError
from agent.core.identifiers import (
    DEVICE_USERNAME,
    check_directory_account,
    check_host,
    check_username,
    control_character_names,
)
from agent.core.scope import ScopeGuard
from agent.core.secret import Secret
from agent.ops import credentials
from rotation.drivers import DRIVERS
from tests.conftest import KEYTURN

GOOD = "Good-Password-12"
HEADER = "host,username,password,platform\n"

# (case id, CSV row after the header, what the error line says)
IMPORT_CASES = [
    ("newline-username", '198.18.0.1,"admin\nconfigure terminal",{GOOD},cisco_ios', "username"),
    ("esc-username", "198.18.0.1,adm\x1b[2Jin,{GOOD},cisco_ios", "control characters"),
    ("nul-username", "198.18.0.1,adm\x00in,{GOOD},cisco_ios", "control characters"),
    ("shell-username", "198.18.0.1,itadmin;touch PWNED;true,{GOOD},linux", "plain account name"),
    ("path-host", "../../etc/passwd,admin,{GOOD},cisco_ios", "neither an IP address"),
    ("pipe-host", "host|with|pipe,admin,{GOOD},cisco_ios", "neither an IP address"),
    ("public-host", "8.8.8.8,admin,{GOOD},cisco_ios", "8.8.8.8 is outside the authorised scope"),
    ("unknown-platform", "198.18.0.1,admin,{GOOD},cisco_iosxx", "unknown platform"),
    ("ctrl-z", "198.18.0.1,admin,Good-Pass\x1aword-12,cisco_ios", "control characters (Ctrl-Z)"),
    ("ctrl-c", "198.18.0.1,admin,Good-Pass\x03word-12,cisco_ios", "control characters (Ctrl-C)"),
    ("question-mark", "198.18.0.1,admin,Good-Pass?word-12,cisco_ios", "read as syntax: '?'"),
    ("tab", "198.18.0.1,admin,Good-Pass\tword-12,cisco_ios", "control characters (tab)"),
    ("one-character", "198.18.0.1,admin,x,cisco_ios", "shorter than 4 characters"),
    ("enable-secret", "198.18.0.1,admin,{GOOD},cisco_ios,x?", "enable_secret"),
]


def keyturn(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KEYTURN, "--config", "site.toml", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "site.toml").write_text('client = "acme"\nscope = ["198.18.0.0/24"]\n')
    return tmp_path


def assert_one_line(result: subprocess.CompletedProcess, code: int, message: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "\x1b" not in result.stderr and "\x00" not in result.stderr


@pytest.mark.parametrize(("row", "message"), [c[1:] for c in IMPORT_CASES],
                         ids=[c[0] for c in IMPORT_CASES])  # fmt: skip
def test_secrets_import_refuses_each_hostile_row(cli_env, site, row, message):
    header = HEADER.replace("platform", "platform,enable_secret") if row.count(",") > 3 else HEADER
    # The bad row comes second: the line number names it, and nothing of the good row lands.
    good = f"198.18.0.2,admin,{GOOD},cisco_ios" + ("," if header != HEADER else "")
    (site / "creds.csv").write_text(header + good + "\n" + row.format(GOOD=GOOD) + "\n")
    result = keyturn(cli_env, site, "secrets", "import", "creds.csv")
    assert_one_line(result, 2, message)
    assert "creds.csv:3:" in result.stderr
    assert GOOD not in result.stderr
    assert keyturn(cli_env, site, "secrets", "list").stdout == ""


def test_secrets_import_refuses_one_keyring_entry_named_twice(cli_env, site):
    # Host names are case-insensitive: Router1 and router1 would share one keyring entry.
    (site / "creds.csv").write_text(
        HEADER + f"Router1.acme.test,admin,{GOOD},\nrouter1.acme.test,admin,Other-Password-13,\n"
    )
    result = keyturn(cli_env, site, "secrets", "import", "creds.csv")
    assert_one_line(result, 2, "creds.csv:3: admin@router1.acme.test is listed twice")


def test_secrets_import_stores_normalised_names(cli_env, site):
    (site / "creds.csv").write_text(HEADER + f" Core-SW.acme.test ,admin,{GOOD},cisco_ios\n")
    assert keyturn(cli_env, site, "secrets", "import", "creds.csv").returncode == 0
    assert "admin@core-sw.acme.test" in keyturn(cli_env, site, "secrets", "list").stdout


SET_CASES = [
    (["198.18.0.1", "admin\nconfigure terminal"], GOOD, "control characters"),
    (["../../etc/passwd", "admin"], GOOD, "neither an IP address"),
    (["8.8.8.8", "admin"], GOOD, "outside the authorised scope"),
    (["198.18.0.1", "admin", "--platform", "nosuch"], GOOD, "unknown platform"),
    (["198.18.0.1", "admin", "--platform", "cisco_ios"], "Good-Pass\x1aword-12", "Ctrl-Z"),
    (["198.18.0.1", "admin", "--platform", "cisco_ios"], "Good-Pass?word-12", "'?'"),
    (["198.18.0.1", "admin"], "x", "shorter than 4"),
]


@pytest.mark.parametrize(("args", "password", "message"), SET_CASES)
def test_secrets_set_checks_what_import_checks(cli_env, site, args, password, message):
    env = {**cli_env, "PW": password}
    result = keyturn(env, site, "secrets", "set", *args, "--password-env", "PW")
    assert_one_line(result, 2, message)
    assert password not in result.stderr
    assert keyturn(cli_env, site, "secrets", "list").stdout == ""


def test_secrets_set_takes_a_directory_bind_account(cli_env, site):
    env = {**cli_env, "PW": "any printable pass? with spaces"}
    args = ["secrets", "set", "198.18.0.10", "ACME\\audit", "--platform", "active_directory"]
    assert keyturn(env, site, *args, "--password-env", "PW").returncode == 0
    assert "ACME\\audit@198.18.0.10" in keyturn(cli_env, site, "secrets", "list").stdout


TARGET_CASES = [
    ("login = 5", "[[device]] 1: bad value for 'login'"),
    ('port = "22"', "[[device]] 1: bad value for 'port'"),
    ("port = 70000", "[[device]] 1: bad value for 'port'"),
    ("colour = 1", "[[device]] 1: unknown key 'colour'"),
    ('username = "admin\\nconfigure terminal"', "username 'admin\\nconfigure terminal' holds"),
    ('username = "itadmin;touch PWNED;true"', "is not a plain account name"),
]


@pytest.mark.parametrize(("line", "message"), TARGET_CASES)
def test_targets_file_is_schema_validated(cli_env, site, line, message):
    base = {"host": '"198.18.0.1"', "platform": '"linux"', "username": '"admin"'}
    key = line.split(" = ")[0]
    base[key] = line.split(" = ", 1)[1]
    body = "".join(f"{k} = {v}\n" for k, v in base.items())
    (site / "targets.toml").write_text("[[device]]\n" + body)
    result = keyturn(cli_env, site, "rotate", "--targets", "targets.toml", "--dry-run")
    assert_one_line(result, 2, message)
    assert "targets.toml: [[device]] 1:" in result.stderr


def test_rotate_account_is_checked(cli_env, site):
    (site / "targets.toml").write_text('[[device]]\nhost = "198.18.0.1"\nplatform = "linux"\n')
    result = keyturn(cli_env, site, "rotate", "--targets", "targets.toml", "--dry-run",
                     "--account", "root\nreboot")  # fmt: skip
    assert_one_line(result, 2, "--account 'root\\nreboot' holds control characters")


# -- unit tests of the pure checks ---------------------------------------------------------


@pytest.mark.parametrize("platform", sorted(DRIVERS))
def test_every_platform_refuses_control_and_syntax_characters(platform):
    refused = [
        ("Abcdefgh-123\x1a", "Ctrl-Z"),
        ("Abcdefgh-123\t", "tab"),
        ("Abcdefgh?1234", "'?'"),
        ("Abcdef gh-1234", "space"),
        ("Ab1", "shorter"),
    ]
    if "?" not in DRIVERS[platform].policy.specials:
        refused.remove(("Abcdefgh?1234", "'?'"))  # typed at a hidden prompt (passwd), not a CLI
    for bad, reason in refused:
        refusal = credentials.password_refusal(Secret(bad), platform)
        assert refusal and reason in refusal, (platform, bad, refusal)
        assert bad not in refusal
    assert credentials.password_refusal(Secret("Abcdefgh-1234"), platform) is None
    # weak is why an inherited password gets rotated: short or plain ones are importable
    assert credentials.password_refusal(Secret("letmein7"), platform) is None


def test_control_character_names():
    assert control_character_names("a\x1a\x03\tb\x00\x1b\u200b\x1a") == [
        "Ctrl-Z", "Ctrl-C", "tab", "NUL", "ESC", "U+200B",
    ]  # fmt: skip


def test_directory_account_grammar():
    for good in ("ACME\\audit", "audit@acme.local", "svc_backup$", "Administrator"):
        assert check_directory_account(good) == good
    for bad in ("a|b", "ACME\\a\\b", "audit\n", "a b", ""):
        with pytest.raises(UsageError):
            check_directory_account(bad)


def test_random_strings_never_pass_as_syntax():
    """Property: whatever the grammar accepts holds no separator a CLI, shell, path or keyring
    name could read as syntax, and the host check normalises instead of passing raw text."""
    rng = random.Random(13)
    alphabet = "aZ09._@-|;&$`'\"\\/ \t\n\r\x00\x03\x1a\x1b?#!<>*()[]{}~%:=,+\u200b\u00e9"
    syntax = set("|;&$`'\"\\/ \t\n\r\x00\x03\x1a\x1b?#!<>*()[]{}~%:=,+\u200b")
    accepted = 0
    for _ in range(20000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        for check in (check_username, check_host):
            try:
                result = check(value)
            except UsageError:
                continue
            accepted += 1
            assert not (set(result) & syntax), (check.__name__, value)
            if check is check_username:
                assert DEVICE_USERNAME.fullmatch(result)
    assert accepted > 100  # the generator does reach the accepting side


def test_scope_is_checked_only_for_addresses():
    calls = []

    def scope() -> ScopeGuard:
        calls.append(1)
        return ScopeGuard(["198.18.0.0/24"])

    credentials.check_names("core-sw.acme.test", "admin", "cisco_ios", scope)
    assert calls == []
    with pytest.raises(UsageError, match="outside the authorised scope"):
        credentials.check_names("8.8.8.8", "admin", "cisco_ios", scope)
