"""systemd service + timer units (and a cron line) for scheduled keyturn runs.

A scheduled run is non-interactive: it never prompts, takes the keyring password from a
root-only file named in /etc/keyturn/<client>.env, and exits with a code instead of hanging.
systemd never starts a timer's service while the previous run is still active; the store
lock covers overlaps with runs started by hand or by cron.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.core.errors import OperationFailed, UsageError

UNIT_DIR = Path("/etc/systemd/system")
ENV_DIR = Path("/etc/keyturn")
LOG_DIR = Path("/var/log/keyturn")
PRESETS = {
    "hourly": ("*-*-* *:00:00", "0 * * * *"),
    "daily": ("*-*-* 03:00:00", "0 3 * * *"),
    "weekly": ("Mon *-*-* 03:00:00", "0 3 * * 1"),
}
COMMANDS = ("onboard", "verify")
_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Units:
    service_name: str
    service: str
    timer_name: str
    timer: str
    cron_line: str


def calendar(every: str) -> tuple[str, str]:
    """(systemd OnCalendar, cron expression) for a preset or a 5-field cron expression."""
    if every in PRESETS:
        return PRESETS[every]
    fields = every.split()
    if len(fields) != 5:
        raise UsageError(
            f"--every {every!r}: use daily, weekly, hourly or a 5-field cron expression "
            "such as '30 2 * * 1-5'"
        )
    minute, hour, dom, month, dow = fields
    if dom != "*" and dow != "*":
        # cron runs when EITHER matches, systemd when BOTH do: refuse rather than mistranslate.
        raise UsageError("--every: set day-of-month or day-of-week, not both")
    on_calendar = (
        f"{_weekdays(dow)}*-{_field(month, 1, 12)}-{_field(dom, 1, 31)} "
        f"{_field(hour, 0, 23)}:{_field(minute, 0, 59)}:00"
    )
    return on_calendar, every


def _field(text: str, low: int, high: int) -> str:
    """A cron field in systemd's calendar syntax: *, N, N-M, a,b and */S or N/S steps."""
    parts = []
    for part in text.split(","):
        match = re.fullmatch(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?", part)
        if not match:
            raise UsageError(f"--every: cannot read cron field {text!r}")
        start, end, step = match.groups()
        numbers = [int(n) for n in (start, end) if n not in (None, "*")]
        if any(not low <= n <= high for n in numbers):
            raise UsageError(f"--every: {text!r} is outside {low}-{high}")
        if start == "*" and not step:
            parts.append("*")
            continue
        first = low if start == "*" else int(start)
        text_part = f"{first:02d}" if end is None else f"{first:02d}..{int(end):02d}"
        if step:
            if end is not None:
                raise UsageError(f"--every: ranges with steps ({part!r}) are not supported")
            text_part = f"{first:02d}/{int(step)}"
        parts.append(text_part)
    return ",".join(parts)


def _weekdays(text: str) -> str:
    if text == "*":
        return ""
    names = []
    for part in text.split(","):
        match = re.fullmatch(r"(\d)(?:-(\d))?", part)
        if not match or any(int(n) > 7 for n in match.groups() if n):
            raise UsageError(f"--every: cannot read day-of-week {text!r} (use 0-7, ranges, lists)")
        start, end = match.groups()
        names.append(
            _DAYS[int(start)] if end is None else f"{_DAYS[int(start)]}..{_DAYS[int(end)]}"
        )
    return ",".join(names) + " "


def keyturn_binary() -> Path:
    """The keyturn entry point of this installation (the venv's, not whatever PATH finds)."""
    candidate = Path(sys.executable).with_name("keyturn")
    if candidate.exists():
        return candidate
    found = shutil.which("keyturn")
    if not found:
        raise OperationFailed("cannot find the keyturn executable to schedule")
    return Path(found)


def render(
    *,
    client: str,
    config_path: Path,
    every: str,
    command: str = "onboard",
    rotate: bool = False,
    targets_file: bool = False,
    binary: Path | None = None,
    log_dir: Path = LOG_DIR,
    env_dir: Path = ENV_DIR,
) -> Units:
    """The unit pair and the equivalent /etc/cron.d line; paths are made absolute.

    ``targets_file``: the site config names a rotation targets file, which ``verify`` then
    reads; otherwise a scheduled verify checks the devices of the latest discover run."""
    if command not in COMMANDS:
        raise UsageError(f"--command must be one of {', '.join(COMMANDS)}")
    if rotate and command != "onboard":
        raise UsageError("--rotate only applies to --command onboard")
    on_calendar, cron = calendar(every)
    binary = binary or keyturn_binary()
    config_path = config_path.resolve()
    name = f"keyturn-{client}-{command}"
    log_file = log_dir / f"{client}.jsonl"
    env_file = env_dir / f"{client}.env"
    argv = [
        str(binary),
        "--config",
        str(config_path),
        "--non-interactive",
        "--log-file",
        str(log_file),
        command,
    ]
    if rotate:
        argv += ["--rotate", "--yes"]
    if command == "verify" and not targets_file:
        argv.append("--from-inventory")
    exec_start = " ".join(_quote(arg) for arg in argv)
    service = f"""\
[Unit]
Description=keyturn {command} for client {client}
Documentation=file://{_docs_path()}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
# PYTHON_KEYRING_BACKEND and KEYTURN_KEYRING_PASSWORD_FILE (a root-only file) live here.
EnvironmentFile=-{env_file}
Environment=KEYTURN_OPERATOR=schedule:{name}
ExecStart={exec_start}
# 1 means "ran, with findings or partial failures": the run itself worked.
SuccessExitStatus=1
TimeoutStartSec=4h
UMask=0077
NoNewPrivileges=yes
PrivateTmp=yes
"""
    timer = f"""\
[Unit]
Description=Scheduled keyturn {command} for client {client}

[Timer]
OnCalendar={on_calendar}
Persistent=true
RandomizedDelaySec=10min
Unit={name}.service

[Install]
WantedBy=timers.target
"""
    # cron runs the line with /bin/sh and treats an unescaped % as a newline.
    shell_argv = " ".join(shlex.quote(arg) for arg in argv).replace("%", "\\%")
    cron_line = (
        f"{cron} root set -a; [ -r {env_file} ] && . {env_file}; set +a; "
        f"KEYTURN_OPERATOR=schedule:cron {shell_argv}"
    )
    return Units(f"{name}.service", service, f"{name}.timer", timer, cron_line)


def install(units: Units, unit_dir: Path = UNIT_DIR, *, enable: bool = True) -> list[str]:
    """Write both units, then reload systemd and enable the timer when systemd is running.

    Returns what was done, one line each, for the CLI to print.
    """
    from agent.core import files

    done = []
    for name, text in ((units.service_name, units.service), (units.timer_name, units.timer)):
        # 0600 like every keyturn file (systemd reads units as their owner: root or the
        # --user manager); renamed into place, never through a symlink.
        path = files.write_atomic(unit_dir / name, text)
        done.append(f"wrote {path}")
    if not enable or unit_dir != UNIT_DIR:
        return done
    if not Path("/run/systemd/system").is_dir():
        done.append(
            f"systemd is not running here: enable later with "
            f"'systemctl daemon-reload && systemctl enable --now {units.timer_name}'"
        )
        return done
    for argv in (
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", units.timer_name],
    ):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise OperationFailed(f"{' '.join(argv)} failed: {result.stderr.strip()}")
        done.append(" ".join(argv))
    return done


def _quote(arg: str) -> str:
    # systemd's ExecStart quoting: double quotes, backslash escapes; % must be doubled.
    arg = arg.replace("%", "%%")
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _docs_path() -> Path:
    return Path(__file__).resolve().parents[2] / "docs" / "operations.md"
