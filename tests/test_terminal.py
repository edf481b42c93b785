"""Issue 13 item 2: text from a device, an imported file or the directory reaches the
terminal inert - a clear-screen, an OSC 52 clipboard write and concealed text in a username
and in a (real, loopback) SSH server's banner print as plain visible text, in `secrets list`,
`checklist`, `audit show`, `rotate` and `verify`; reports keep no raw control byte."""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

import pytest

from agent.core.terminal import inert
from tests.conftest import KEYTURN, PYTHON

CLEAR = "\x1b[2J\x1b[H"
OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"  # puts `rm -rf ~` in the operator's clipboard
CONCEAL = "\x1b[8mhidden\x1b[0m"
RLO = "\u202e"  # right-to-left override: the line reads backwards from here
HOSTILE = f"itadmin{CLEAR}{OSC52}{CONCEAL}{RLO}x"
RAW = ("\x1b", "\x07", "\x9b", "\x9d", RLO, "\u200b")


def assert_inert(text: str) -> None:
    for char in RAW:
        assert char not in text, f"{char!r} reached the terminal: {text!r}"
    assert "52;c;" not in text and "[2J" not in text  # whole sequences gone, not just ESC


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (HOSTILE, "itadminhiddenx"),
        ("a\x9b31mred\x9b0m", "ared"),  # 8-bit CSI
        ("a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),  # DCS (sixel) up to its ST
        ("a\x1b]0;title", "a"),  # unterminated OSC: dropped to the end
        ("line1\nfake: ok\r\tz", "line1 fake: ok  z"),  # cannot start a fake line
        ("zero\u200bwidth\u2028sep\ufeff\x00\x7f", "zerowidthsep"),
        ("\udcff surrogate", " surrogate"),
        ("[bold]plain[/bold] ümlaut 日本", "[bold]plain[/bold] ümlaut 日本"),
    ],
)
def test_inert_drops_sequences_and_controls(raw: str, shown: str) -> None:
    assert inert(raw) == shown


def test_inert_options() -> None:
    assert inert("[bold]x[/bold]", markup=True) == "\\[bold]x\\[/bold]"
    assert inert("a\n\tb\x1b[2Jc\r", keep_newlines=True) == "a\n\tbc "
    assert inert(None) == "None"


def _seed(cli_env: dict[str, str], tmp_path: Path) -> Path:
    """What an older keyturn or a hostile inherited CSV left behind: a keyring entry, a
    checklist item and an audit entry whose names carry escape sequences."""
    site = tmp_path / "site.toml"
    site.write_text('client = "acme"\nscope = ["127.0.0.0/8"]\n')
    code = f"""
from agent.context import AppContext
from agent.core.secret import Secret
from inventory import checklist
app = AppContext(config_path={str(site)!r})
app.secret_store.put("198.18.0.1", {HOSTILE!r}, Secret("Inherited-pw-1"), platform="linux")
with app.lock("seed"):
    item = checklist.add(app.store, "switch", "198.18.0.1", {HOSTILE!r})
    checklist.mark(app.store, item.id, "accepted_risk", operator="t", note={HOSTILE!r},
                   who={HOSTILE!r})
    app.audit.append("secrets.import", {HOSTILE!r}, "ok")
app.close()
"""
    done = subprocess.run([PYTHON, "-c", code], env=cli_env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return site


@pytest.mark.parametrize(
    "args", [("secrets", "list"), ("checklist",), ("audit", "show")], ids=" ".join
)
def test_listings_print_hostile_names_inert(cli_env, tmp_path, args) -> None:
    site = _seed(cli_env, tmp_path)
    result = subprocess.run(
        [KEYTURN, "--config", str(site), *args], env=cli_env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert_inert(result.stdout + result.stderr)
    assert "itadminhiddenx" in result.stdout  # the hidden text is shown, not lost


class BannerServer:
    """A real TCP server on loopback whose SSH identification string carries escapes."""

    BANNER = f"SSH-{CLEAR}{OSC52}{CONCEAL}{RLO}evil-server\r\n".encode()

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                try:
                    conn.sendall(self.BANNER)
                    conn.recv(4096)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def banner_server():
    server = BannerServer()
    yield server
    server.close()


@pytest.mark.parametrize("command", ["verify", "rotate"])
def test_ssh_banner_escapes_are_inert_in_error_lines(cli_env, tmp_path, banner_server, command):
    site = tmp_path / "site.toml"
    site.write_text('client = "acme"\nscope = ["127.0.0.0/8"]\n')
    targets = tmp_path / "targets.toml"
    targets.write_text(
        f'[[device]]\nhost = "127.0.0.1"\nport = {banner_server.port}\n'
        'platform = "cisco_ios"\nusername = "admin"\n'
    )
    env = cli_env | {"P": "Inherited-pw-1"}
    run = [KEYTURN, "--config", str(site)]
    seed = ["secrets", "set", "127.0.0.1", "admin", "--password-env", "P", "--platform", "linux"]
    subprocess.run([*run, *seed], env=env, check=True, capture_output=True)
    extra = ["--yes"] if command == "rotate" else []
    result = subprocess.run(
        [*run, command, "--targets", str(targets), *extra],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert banner_server.connections >= 1  # the device really was asked
    assert result.returncode == 3, result.stdout + result.stderr
    assert_inert(result.stdout + result.stderr)
    assert "hiddenevil" in result.stdout  # the banner is still shown, as plain text


def test_reports_keep_no_raw_control_bytes(tmp_path) -> None:
    from inventory import checklist
    from inventory.store import Store
    from reports.model import build_report
    from reports.render import write_reports
    from tests.report_fixtures import populate

    with Store(tmp_path / "acme.db") as store:
        populate(store)
        checklist.add(store, "switch", f"sw{CLEAR}1", HOSTILE)
        report = build_report(store, client="acme", operator="bob")
    written = write_reports(report, ["html", "csv", "md", "json"], tmp_path / "out")
    for path in written:
        data = path.read_bytes()
        if path.suffix == ".json":
            assert b"\\u001b" in data  # JSON keeps the record, escaped, never raw
        for raw in (b"\x1b", b"\x07", RLO.encode()):
            assert raw not in data, f"{raw!r} in {path.name}"
    assert any(b"itadminhiddenx" in p.read_bytes() for p in written if p.suffix == ".csv")
