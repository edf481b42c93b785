"""nmap through python-nmap: the routed ping sweep, service/OS enrichment, NetBIOS names, and
turning nmap's results (live or from an XML file) into :class:`Host` records.

Every target list handed to nmap is built from addresses the scope guard cleared, written to
a private file and passed with ``-iL``; the exclusions go along with ``--exclude`` too.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from agent.core import procs
from agent.core.errors import OperationFailed, UsageError
from agent.core.scope import ScopeGuard
from agent.discovery.model import Host, Port

# Measured on 50 hosts: 8.1 s against 19 s for nmap's defaults, with the same services and OS
# guesses. -O without an exact match otherwise retries 5 times; -sV waits on silent services.
# -Pn: every target already answered the sweep, so nmap's own host discovery is wasted.
# nmap runs its phases one after another (-sV ~4 s, then -O ~3 s however few the hosts), so
# services and OS run as two nmap processes side by side (agent/discovery/enrich.py plans
# them after a port scan); each repeats the cheap SYN scan.
COMMON_ARGS = "-n -Pn -sS -T4 --max-retries 1 --min-hostgroup 1024"
# Intensity 1: the banner and the two probes that identify most services (GenericLines,
# GetRequest, so HTTP on an odd port is still found) on every port, plus the probes made
# for that port; the rarer probes of --version-light (2) made every silent or unknown port
# wait through them (34-host lab: 8.4 s -> 6.8 s, the same names, products and versions).
SERVICE_ARGS = f"{COMMON_ARGS} -sV --version-intensity 1"
OS_ARGS = f"{COMMON_ARGS} -O --osscan-limit --max-os-tries 1"
# SNMP's UDP port answers nmap's SNMPv3 probe whatever the community, so this shows every
# device with SNMP on (1.6 s for 34 hosts, run beside the others). -sV on UDP would cost 19 s;
# SIP on 5060/udp rarely answers an unversioned probe (open|filtered is not kept).
UDP_ARGS = "-n -Pn -sU -p 161,5060 -T4 --max-retries 1"
# No --allports: nmap leaves 9100-9107 out of -sV because printers print whatever arrives
# there (a page of probe garbage per printer, and ~36 s of probe timeouts each). The SYN scan
# still reports 9100 open as jetdirect, which is what classification needs.
ROUTED_SWEEP_ARGS = "-sn -n -T4 --max-retries 1 -PE -PS22,80,443,3389 -PA80"
# With "max" ARP rate, the routed sweep still needs a floor (nmap otherwise crawls past dead
# addresses: 35 s against 1.8 s on a /24 with 3 live hosts).
ROUTED_MAX_RATE = 20000
# nmap waits up to 5-6 s for each probe's answer (6 s for the NULL probe's banner, 5 s by
# default for the rest) and a service group ends with its slowest port: one RDP or odd HTTP
# port that ignores a probe makes every host wait. On a LAN answers come in milliseconds, so a
# private copy of the probe file caps every probe at 1 s: on the 34-host lab 105 s -> 18 s with
# the same service names, products and versions. A banner (the NULL probe: a connect and
# wait) keeps 1 s, since a device may look its client up before it greets; every other probe
# is a request answered at once or never: 500 ms (300 ms lost Samba's SMB answer now and
# then on the loaded 34-host lab). With intensity 1 below, the lab's service scan went from
# ~20 s to ~7 s with the same names, products and versions.
BANNER_WAIT_MS = 1000
PROBE_WAIT_MS = 500
_PROBE_FILES = ("/usr/share/nmap/nmap-service-probes", "/usr/local/share/nmap/nmap-service-probes")
_PACKETS = re.compile(r"Raw packets sent: (\d+) .*\| Rcvd: (\d+)")
_VERBOSE_NOTES = re.compile(r"^(Host discovery disabled \(-Pn\)|adjust_timeouts2: )")
_PORT_LIST = re.compile(r"^\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*$")


class NmapRun:
    """One nmap invocation's result, the errors nmap reported on stderr and, when asked for,
    the raw packets it sent and received."""

    def __init__(self, raw: dict[str, Any], normal_output: str = "") -> None:
        self.raw = raw
        info = raw.get("nmap", {}).get("scaninfo", {})
        self.errors: list[str] = [e.strip() for e in info.get("error", []) if e.strip()]
        self.hosts: dict[str, dict[str, Any]] = raw.get("scan", {})
        counts = _PACKETS.search(normal_output)
        self.packets_sent = int(counts.group(1)) if counts else 0
        self.packets_received = int(counts.group(2)) if counts else 0


def port_args(ports: str) -> str:
    """``top100`` or a port list such as ``22,80,443,8000-8100``."""
    if ports == "top100":
        return "--top-ports 100"
    spec = ports.replace(" ", "")
    if not _PORT_LIST.match(spec) or any(int(n) > 65535 for n in re.split(r"[,-]", spec)):
        raise UsageError(f"--ports takes 'top100' or a list such as 22,80,443 (got {ports!r})")
    return f"-p {spec}"


def run_nmap(
    targets: Sequence[str],
    arguments: str,
    guard: ScopeGuard,
    exclude: Iterable[str] = (),
    *,
    count_packets: bool = False,
) -> NmapRun:
    """Run nmap on ``targets`` (addresses or CIDRs, each inside the scope) and parse its XML.

    ``count_packets``: nmap says how many raw packets it sent only in its verbose normal
    output, so the XML then goes to a file and stdout is read for that line. (Not for ping
    sweeps: verbose XML lists every down address too.)
    """
    import nmap

    for target in targets:
        guard.check_network(target)
    excluded = ",".join(str(n) for n in exclude)
    with tempfile.TemporaryDirectory(prefix="keyturn-nmap-") as folder:
        listing, xml = Path(folder) / "targets.txt", Path(folder) / "scan.xml"
        listing.write_text("\n".join(targets) + "\n", encoding="utf-8")
        args = f"{arguments} -iL {listing}" + (f" --exclude {excluded}" if excluded else "")
        output = ["-v", "-oX", str(xml)] if count_packets else ["-oX", "-"]
        # nmap is started here rather than by python-nmap's scan(), which gives it this
        # process's whole environment (the keyring password, an AD password variable).
        result = _run_stoppable([_nmap_path(), *output, *shlex.split(args)])
        try:
            text = xml.read_text(encoding="utf-8") if count_packets else result.stdout
        except OSError:
            text = ""  # nmap failed before writing: its stderr says why
        try:
            stderr = _without_commentary(result.stderr) if count_packets else result.stderr
            raw = _read_xml(text, stderr)
        except nmap.PortScannerError as exc:
            raise OperationFailed(f"nmap failed: {str(exc).strip()}") from exc
    return NmapRun(raw, result.stdout if count_packets else "")


# The nmap processes running now, so that an interrupted discovery stops them at once
# (a SIGTERM reaches keyturn only, and its worker threads would wait for every scan).
_running: set[subprocess.Popen] = set()
_lock = threading.Lock()
_stopped = threading.Event()


@contextlib.contextmanager
def _started(argv: list[str], **streams: Any) -> Iterator[subprocess.Popen]:
    """nmap started and registered for ``stop_all`` (killed if the caller leaves early)."""
    with _lock:
        if _stopped.is_set():
            raise OperationFailed("nmap not started: the discovery was interrupted")
        try:
            proc = subprocess.Popen(
                argv, **streams, env=procs.child_env(), preexec_fn=procs.die_with_parent(),
            )  # fmt: skip
        except OSError as exc:
            raise OperationFailed(f"nmap could not start: {exc.strerror}") from exc
        _running.add(proc)
    try:
        if _stopped.is_set():  # a stop that came while this one was starting
            proc.terminate()
        yield proc
    finally:
        if proc.poll() is None:  # the caller failed or stopped reading
            proc.kill()
            proc.wait()
        with _lock:
            _running.discard(proc)
    if _stopped.is_set():
        raise OperationFailed("nmap stopped: the discovery was interrupted")


def _run_stoppable(argv: list[str]) -> subprocess.CompletedProcess:
    with _started(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        stdout, stderr = proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


# nmap writes a host's XML record once its host group is done, then flushes: a host group's
# records come in one burst. A poll this often costs nothing next to a group's seconds.
_STREAM_POLL = 0.2
_HOST_RECORD = re.compile(rb"<host[ >].*?</host>", re.S)
# -v prints each open port the moment a probe finds it, long before its host group ends.
_OPEN_PORT = re.compile(rb"^Discovered open port (\d{1,5})/tcp on ([0-9.]+)\s*$", re.M)
# python-nmap's reader wants a whole document: each burst of host records is wrapped in one.
_WRAP = (
    b"<nmaprun>",
    b'<runstats><finished timestr="" elapsed="0"/><hosts up="0" down="0" total="0"/>'
    b"</runstats></nmaprun>",
)

# (address, port) pairs nmap has just found open, in the order it printed them.
OpenPorts = Callable[[list[tuple[str, int]]], None]


class StreamedScan:
    """One nmap run over many hosts whose results are read while it runs.

    nmap scans a large target list a host group at a time (``--min-hostgroup``) and writes
    each group's hosts as soon as the group is done; iterating yields them, a burst at a
    time, as :class:`NmapRun` parts. One process over every target is what nmap's own
    large-scan guidance has: its timing (round-trip estimates, congestion window) carries
    over from group to group, where one run per group starts cold every time (/16 lab, four
    groups of 1024 hosts: 43.6 s in four runs against 39.4 s in one). ``on_open`` hears of
    each open TCP port as nmap finds it (its verbose output), seconds before the host's
    group is done. After the iteration, ``run`` holds the whole run's errors and packet
    counts; an nmap that failed raises :class:`OperationFailed` once the hosts it did finish
    have been yielded."""

    def __init__(
        self,
        targets: Sequence[str],
        arguments: str,
        guard: ScopeGuard,
        on_open: OpenPorts | None = None,
    ) -> None:
        for target in targets:
            guard.check_network(target)
        self._targets = list(targets)
        self._arguments = arguments
        self._on_open = on_open
        self.run = NmapRun({})

    def __iter__(self) -> Iterator[NmapRun]:
        with tempfile.TemporaryDirectory(prefix="keyturn-nmap-") as folder:
            listing, xml = Path(folder) / "targets.txt", Path(folder) / "scan.xml"
            normal, errors = Path(folder) / "stdout.txt", Path(folder) / "stderr.txt"
            listing.write_text("\n".join(self._targets) + "\n", encoding="utf-8")
            argv = [_nmap_path(), "-v", "-oX", str(xml), *shlex.split(self._arguments)]
            argv += ["-iL", str(listing)]
            with (
                normal.open("wb") as out,
                errors.open("wb") as err,
                _started(argv, stdout=out, stderr=err) as proc,
            ):
                yield from self._parts(proc, _Tail(xml), _Tail(normal))
            stdout = normal.read_text(encoding="utf-8", errors="replace")
            stderr = _without_commentary(errors.read_text(encoding="utf-8", errors="replace"))
        self.run = NmapRun(_read_xml(b"".join(_WRAP).decode(), stderr), stdout)
        if proc.returncode:
            message = "; ".join(filter(None, map(str.strip, stderr.splitlines())))
            message = message or f"exit status {proc.returncode}"
            raise OperationFailed(f"nmap failed: {message[:500]}")

    def _parts(self, proc: subprocess.Popen, xml: _Tail, normal: _Tail) -> Iterator[NmapRun]:
        targets = set(self._targets)
        with xml, normal:
            while True:
                try:
                    proc.wait(_STREAM_POLL)
                    ended = True
                except subprocess.TimeoutExpired:
                    ended = False
                if self._on_open:
                    found = [
                        (match.group(2).decode(), int(match.group(1)))
                        for match in _OPEN_PORT.finditer(normal.take(b"\n"))
                    ]
                    found = [(ip, port) for ip, port in found if ip in targets]
                    if found:
                        self._on_open(found)
                records = list(_HOST_RECORD.finditer(xml.take(b"</host>")))
                if records:
                    burst = b"".join(r.group() for r in records)
                    yield NmapRun(_read_xml(burst.join(_WRAP).decode("utf-8", errors="replace")))
                if ended:
                    return


class _Tail:
    """What a file another process writes has gained, up to the last complete record."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: BinaryIO | None = None
        self._rest = b""

    def take(self, end: bytes) -> bytes:
        """The new bytes up to and including the last ``end``; the rest waits for more."""
        if self._file is None:
            try:
                self._file = self._path.open("rb")
            except FileNotFoundError:
                return b""  # nmap has not created it yet
        data = self._rest + self._file.read()
        cut = data.rfind(end) + len(end) if end in data else 0
        self._rest = data[cut:]
        return data[:cut]

    def __enter__(self) -> _Tail:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._file is not None:
            self._file.close()


def stop_all() -> None:
    """Terminate every nmap this process runs and start no other (an interrupted run).

    Called from a signal handler, which runs in the main thread between two of its
    statements, perhaps while that thread holds ``_lock`` to start an nmap: so no lock here
    (taking it deadlocked a SIGTERM'd discover for good). A run that starts meanwhile sees
    the flag once it is registered and stops itself."""
    _stopped.set()
    for proc in list(_running):  # a copy: other threads add and discard
        with contextlib.suppress(OSError):
            proc.terminate()


def allow() -> None:
    """Let nmap runs start again (a new discovery in the same process)."""
    _stopped.clear()


def _without_commentary(stderr: str) -> str:
    """nmap's stderr less what -v adds there, which is commentary, not errors."""
    return "\n".join(line for line in stderr.splitlines() if not _VERBOSE_NOTES.match(line))


def _nmap_path() -> str:
    path = shutil.which("nmap")
    if not path:
        raise OperationFailed("nmap not found on PATH (apt-get install nmap, or --no-nmap)")
    return path


def _read_xml(text: str, stderr: str = "") -> dict[str, Any]:
    """python-nmap's XML reader, without PortScanner's constructor (which runs ``nmap -V``
    with the whole environment only to find the binary). Lines on stderr other than
    warnings are nmap's errors, as python-nmap's scan() counts them."""
    import nmap

    reader = nmap.PortScanner.__new__(nmap.PortScanner)
    reader._scan_result = {}
    errors = [
        line
        for line in stderr.splitlines()
        if line.strip() and not line.lower().startswith("warning:")
    ]
    return reader.analyse_nmap_xml_scan(text, nmap_err=stderr, nmap_err_keep_trace=errors)


def routed_sweep(
    networks: Sequence[ipaddress.IPv4Network],
    guard: ScopeGuard,
    own: set[str],
    rate: int | None = None,
) -> tuple[dict[str, str], list[str]]:
    """Ping-sweep routed networks (ICMP echo + TCP SYN/ACK probes, no sampling).

    Returns live address -> the probe that found it ("icmp" or "tcp"; the scanner's own
    addresses left out) and nmap's errors.
    """
    if not networks:
        return {}, []
    pace = f"--min-rate {rate} --max-rate {rate}" if rate else f"--min-rate {ROUTED_MAX_RATE}"
    run = run_nmap([str(n) for n in networks], f"{ROUTED_SWEEP_ARGS} {pace}", guard, guard.exclude)
    live = {}
    for ip, data in run.hosts.items():
        status = data.get("status", {})
        if status.get("state") == "up" and ip not in own and guard.allows(ip):
            live[ip] = "icmp" if "echo" in status.get("reason", "") else "tcp"
    return live, run.errors


@lru_cache(maxsize=1)
def quick_probe_file() -> str | None:
    """A private copy of nmap-service-probes with every probe's wait capped, or None."""
    source = next((Path(p) for p in _PROBE_FILES if Path(p).is_file()), None)
    if source is None:
        return None
    text = source.read_text(encoding="utf-8", errors="surrogateescape")
    blocks = re.split(r"(?m)^(?=Probe )", text)

    def capped(block: str) -> str:
        wait = BANNER_WAIT_MS if block.startswith("Probe TCP NULL ") else PROBE_WAIT_MS
        block = re.sub(r"(?m)^totalwaitms \d+\n", "", block)
        return re.sub(r"^(Probe [^\n]*\n)", rf"\g<1>totalwaitms {wait}\n", block)

    patched = [capped(block) if block.startswith("Probe ") else block for block in blocks]
    folder = Path(tempfile.mkdtemp(prefix="keyturn-nmap-"))
    target = folder / "nmap-service-probes"
    target.write_text("".join(patched), encoding="utf-8", errors="surrogateescape")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return str(target)


def netbios_names(ips: Sequence[str], guard: ScopeGuard) -> tuple[dict[str, str], list[str]]:
    """NetBIOS names over 137/udp (nmap's nbstat script), for hosts that serve SMB."""
    if not ips:
        return {}, []
    run = run_nmap(list(ips), "-n -sU -p 137 -T4 --max-retries 1 --script nbstat", guard)
    names = {}
    for ip, data in run.hosts.items():
        for script in data.get("hostscript", []):
            match = re.search(r"NetBIOS name: ([^,\s]+)", script.get("output", ""))
            if script.get("id") == "nbstat" and match:
                names[ip] = match.group(1)
    return names, run.errors


def import_xml(path: str | Path) -> tuple[dict[str, Host], list[str]]:
    """Read an existing nmap XML scan (``nmap -oX``) into hosts."""
    import nmap

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        raw = _read_xml(text)
    except (nmap.PortScannerError, AttributeError, KeyError, ValueError) as exc:
        # python-nmap trusts the XML's shape: any other document fails inside its parser.
        raise UsageError(f"{path}: not an nmap XML scan ({str(exc).strip()[:200]})") from exc
    run = NmapRun(raw)
    return {h.ip: h for h in hosts_from_nmap(raw)}, run.errors


def hosts_from_nmap(raw: dict[str, Any]) -> list[Host]:
    """python-nmap's result dictionary -> Host records (up hosts only)."""
    hosts = []
    for ip, data in raw.get("scan", {}).items():
        if data.get("status", {}).get("state", "up") != "up":
            continue
        host = Host(ip=ip)
        host.add_source("nmap")
        mac = data.get("addresses", {}).get("mac")
        if mac:
            host.mac = mac.lower()
            host.vendor = data.get("vendor", {}).get(mac) or None
        for entry in data.get("hostnames", []):
            if entry.get("name"):
                host.add_hostname(entry["name"])
        for proto in ("tcp", "udp"):
            for number, port in sorted(data.get(proto, {}).items()):
                host.ports.append(_port(int(number), proto, port))
                title = (port.get("script") or {}).get("http-title")
                if title and not host.http_title:
                    host.http_title = title.strip()
        banner = service_os(data)
        host.os = best_os(data.get("osmatch", []), banner) or banner
        hosts.append(host)
    return hosts


def _port(number: int, proto: str, port: dict[str, Any]) -> Port:
    return Port(
        port=number,
        proto=proto,
        state=port.get("state", "open"),
        service=port.get("name") or None,
        product=port.get("product") or None,
        version=" ".join(v for v in (port.get("version"), port.get("extrainfo")) if v) or None,
    )


def service_os(data: dict[str, Any]) -> dict[str, Any] | None:
    """The operating system a service banner names (-sV's cpe:/o:..., e.g. OpenSSH's
    "Debian" build says cpe:/o:linux:linux_kernel), for when OS detection matched nothing: a
    host whose firewall drops the probes -O needs, or a scan under load whose single OS try
    came back empty. No accuracy: it is a banner's claim, not a fingerprint match."""
    for proto in ("tcp", "udp"):
        for _number, port in sorted(data.get(proto, {}).items()):
            cpe = str(port.get("cpe") or "")
            if port.get("state") == "open" and cpe.startswith("cpe:/o:"):
                parts = cpe.split(":")
                vendor, product = [*parts[2:4], "", ""][:2]
                if not product:
                    continue
                name = product.replace("_", " ")
                return {
                    "name": name[:1].upper() + name[1:],
                    "accuracy": None,
                    "type": None,
                    "vendor": vendor.replace("_", " ").title() or None,
                    "family": None,
                }
    return None


# OS matches this close to the best one are a tie as far as the fingerprint goes (the lab's
# Linux router came out "Linux 5.3 - 5.4" 94 or "HP P2000 G3 NAS device" 93 from run to run).
OS_TIE = 3
# The device type nmap gives a kernel it cannot place on one device: most embedded gear (access
# points, cameras, NAS) runs the same Linux or BSD stack as a PC and answers -O alike.
GENERAL_PURPOSE = "general purpose"


def best_os(
    matches: list[dict[str, Any]], banner: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """OS detection's best match. Among near ties the service banner's vendor settles it, and
    when the ties name different device types the fingerprint has not told them apart: the
    general-purpose match stands, or no type at all. A Linux workstation under load came out
    "WAP" one run in a hundred, and the type is what the classifier's os-* rules read."""
    if not matches:
        return None
    best = max(matches, key=_accuracy)
    near = [m for m in matches if _accuracy(m) >= _accuracy(best) - OS_TIE]
    if banner and banner.get("vendor"):
        said = banner["vendor"].lower()
        agreeing = [m for m in near if said in _os_words(m)]
        if agreeing and said not in _os_words(best):
            best = max(agreeing, key=_accuracy)
        near = agreeing or near
    kind = _os_type(best)
    if any(_os_type(m) != kind for m in near):
        general = [m for m in near if _os_type(m) == GENERAL_PURPOSE]
        best = max(general, key=_accuracy) if general else best
        kind = GENERAL_PURPOSE if general else None
    classes = best.get("osclass") or []
    first = classes[0] if classes else {}
    return {
        "name": best.get("name"),
        "accuracy": _accuracy(best),
        "type": kind,
        "vendor": first.get("vendor") or None,
        "family": first.get("osfamily") or None,
    }


def _os_type(match: dict[str, Any]) -> str | None:
    classes = match.get("osclass") or []
    return (classes[0].get("type") or None) if classes else None


def _accuracy(match: dict[str, Any]) -> int:
    return int(match.get("accuracy") or 0)


def _os_words(match: dict[str, Any]) -> set[str]:
    classes = match.get("osclass") or []
    return {str(c.get(k) or "").lower() for c in classes for k in ("vendor", "osfamily")}
