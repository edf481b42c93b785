import subprocess
import time

import click
from click.testing import CliRunner

from agent import __version__
from agent.cli import COMMANDS, main
from tests.conftest import KEYTURN, PYTHON


def test_help_lists_every_command_group():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("discover", "ad", "rotate", "verify", "secrets", "report", "audit", "onboard"):
        assert name in result.output


def test_every_command_has_an_example_in_its_help():
    runner = CliRunner()
    ctx = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        # Subcommands of a group (secrets import, lab up, ...) are documented one by one.
        paths = [[name]] + [[name, sub] for sub in getattr(command, "commands", {})]
        for path in paths:
            result = runner.invoke(main, [*path, "--help"])
            assert result.exit_code == 0, (path, result.output)
            assert "Example:" in result.output, path


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from agent.cli import main\n"
        "try:\n main(['--help'])\nexcept SystemExit: pass\n"
        "heavy = [m for m in ('scapy', 'nmap', 'netmiko', 'ldap3', 'paramiko', 'pydantic') "
        "if m in sys.modules]\n"
        "print('HEAVY:' + ','.join(heavy))"
    )
    out = subprocess.run(
        [PYTHON, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().splitlines()[-1] == "HEAVY:"


def test_bad_config_is_one_line_exit_2(tmp_path, cli_env):
    site = tmp_path / "site.toml"
    site.write_text('client = "acme"\nscope = ["198.18.0.0/24"]\n\n[ad]\nservr = "dc1"\n')
    started = time.monotonic()
    result = subprocess.run(
        [KEYTURN, "--config", str(site), "audit", "verify"],
        capture_output=True,
        text=True,
        env=cli_env,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"keyturn: error: {site}:5: unknown key 'ad.servr'"
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 10


def test_unknown_command_exits_2():
    result = CliRunner().invoke(main, ["frobnicate"])
    assert result.exit_code == 2


def test_an_unexpected_exception_is_one_scrubbed_line_exit_3(monkeypatch):
    # A bug (not bad input) must not dump Python's traceback, whose last line is the raw
    # exception text: a device may have echoed a password into it.
    from agent.core.secret import Secret
    from agent.ops import doctor

    canary = Secret("Canary-crash-4e1b")

    def crash(app):
        raise RuntimeError(f"device said {canary.reveal()}")

    monkeypatch.setattr(doctor, "run_checks", crash)
    runner = CliRunner()
    result = runner.invoke(main, ["doctor"])
    assert result.exit_code == 3
    assert "keyturn: error: unexpected RuntimeError: device said ********" in result.output
    assert "Traceback" not in result.output and canary.reveal() not in result.output
    verbose = runner.invoke(main, ["-v", "doctor"])
    assert verbose.exit_code == 3
    assert "Traceback" in verbose.output and canary.reveal() not in verbose.output
