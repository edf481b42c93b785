"""keyturn schedule: units that systemd itself accepts, and cron expressions translated."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.core.errors import UsageError
from agent.ops import schedule
from tests.conftest import KEYTURN


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "acme.toml"
    path.write_text('client = "acme"\nscope = ["198.18.0.0/24"]\n')
    return path


def analyze(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("every", "command", "rotate"),
    [("daily", "onboard", False), ("weekly", "verify", False), ("30 2 * * 1-5", "onboard", True)],
)
def test_installed_units_pass_systemd_analyze_verify(tmp_path, site, every, command, rotate):
    unit_dir = tmp_path / "units"
    args = [KEYTURN, "schedule", "--config", str(site), "--every", every, "--command", command,
            "--install", "--unit-dir", str(unit_dir)]  # fmt: skip
    result = subprocess.run([*args, *(["--rotate"] if rotate else [])], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    service = unit_dir / f"keyturn-acme-{command}.service"
    timer = unit_dir / f"keyturn-acme-{command}.timer"
    verdict = analyze("verify", str(service), str(timer))
    assert verdict.returncode == 0, verdict.stderr
    assert verdict.stderr.strip() == "", verdict.stderr  # not even a warning
    text = service.read_text()
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert exec_start.startswith(f"ExecStart={KEYTURN} --config {site.resolve()} --non-interactive")
    tail = {"onboard": "onboard", "verify": "verify --from-inventory"}[command]
    assert exec_start.endswith(f"{tail} --rotate --yes" if rotate else tail)
    on_calendar = next(
        line.split("=", 1)[1] for line in timer.read_text().splitlines()
        if line.startswith("OnCalendar=")
    )  # fmt: skip
    assert analyze("calendar", on_calendar).returncode == 0


def test_verify_catches_a_broken_unit(tmp_path):
    """The check above can fail: a unit whose binary does not exist is rejected."""
    units = schedule.render(client="acme", config_path=tmp_path / "a.toml", every="daily",
                            binary=Path("/nonexistent/keyturn"))  # fmt: skip
    (tmp_path / units.service_name).write_text(units.service)
    assert analyze("verify", str(tmp_path / units.service_name)).returncode != 0


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 3 * * *", "*-*-* 03:00:00"),
        ("30 2 * * 1-5", "Mon..Fri *-*-* 02:30:00"),
        ("*/15 * * * *", "*-*-* *:00/15:00"),
        ("0 4 1 * *", "*-*-01 04:00:00"),
        ("0 22 * 1,7 0", "Sun *-01,07-* 22:00:00"),
    ],
)
def test_cron_expressions_become_equivalent_calendar_events(cron, expected):
    on_calendar, cron_out = schedule.calendar(cron)
    assert (on_calendar, cron_out) == (expected, cron)
    assert analyze("calendar", on_calendar).returncode == 0


@pytest.mark.parametrize("bad", ["fortnightly", "0 3 * *", "0 25 * * *", "0 3 1 * 1", "x 3 * * *"])
def test_unreadable_schedules_are_usage_errors(bad):
    with pytest.raises(UsageError):
        schedule.calendar(bad)


def test_printed_units_include_a_cron_alternative(site):
    result = subprocess.run(
        [KEYTURN, "schedule", "--config", str(site), "--every", "weekly"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "[Timer]" in result.stdout and "OnCalendar=Mon *-*-* 03:00:00" in result.stdout
    cron = result.stdout.strip().splitlines()[-1]
    assert cron.startswith("0 3 * * 1 root ") and "/etc/keyturn/acme.env" in cron
    assert cron.endswith("--non-interactive --log-file /var/log/keyturn/acme.jsonl onboard")
