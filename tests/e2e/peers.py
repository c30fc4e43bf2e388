"""Real peers for end-to-end tests and benchmarks: Orthanc, the node as a subprocess, dcmtk tools.

Everything listens on 127.0.0.1 on free ports, readiness is polled with bounded timeouts, and every process
is stopped by the fixture that started it.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ORTHANC = "/usr/sbin/Orthanc"
STORESCU = "/usr/bin/storescu"
ECHOSCU = "/usr/bin/echoscu"
HAPROXY = "/usr/sbin/haproxy"
NODELAY_ENV = {**os.environ, "TCP_NODELAY": "1"}


def _ephemeral_low() -> int:
    try:
        return int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORTS = random.Random()  # its own generator: tests that seed the global one must not make ports collide
_GIVEN: set[int] = set()


def free_port() -> int:
    """A free loopback port BELOW the kernel's ephemeral range: a port the kernel handed out for bind(0) may be
    given to some client's outgoing connection before our peer binds it (an Orthanc that then exits with "port
    already in use" failed a CI run); the range below is never used for outgoing connections. A port is handed
    out once per test process: two peers given ports before either binds must not get the same one (a node
    exited at start with EADDRINUSE on its DICOM port in a CI run)."""
    high = _ephemeral_low() - 1
    for _ in range(200):
        port = _PORTS.randint(min(20000, high - 1000), high)
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _GIVEN.add(port)
            return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def wait_for(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``pred`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


class Orthanc:
    """An Orthanc with its own config, storage in ``workdir``; a Lua filter logs every received SOP UID."""

    def __init__(self, workdir: Path, aet: str = "ORTHANC") -> None:
        self.workdir = workdir
        self.aet = aet
        self.received_log = workdir / "received.log"
        workdir.mkdir(parents=True, exist_ok=True)
        lua = workdir / "received.lua"
        lua.write_text(
            "function ReceivedInstanceFilter(dicom, origin, info)\n"
            f"  local f = io.open({json.dumps(str(self.received_log))}, 'a')\n"
            "  f:write(tostring(dicom.SOPInstanceUID) .. '\\n')\n"
            "  f:close()\n"
            "  return true\n"
            "end\n"
        )
        self.config = workdir / "orthanc.json"
        self._write_config()
        self.proc: subprocess.Popen | None = None

    def _write_config(self) -> None:
        self.dicom_port = free_port()
        self.http_port = free_port()
        workdir, aet, lua = self.workdir, self.aet, self.workdir / "received.lua"
        self.config.write_text(
            json.dumps(
                {
                    "Name": "deidnode-e2e",
                    "StorageDirectory": str(workdir / "db"),
                    "IndexDirectory": str(workdir / "db"),
                    "RemoteAccessAllowed": False,
                    "AuthenticationEnabled": False,
                    "DicomAet": aet,
                    "DicomPort": self.dicom_port,
                    "HttpPort": self.http_port,
                    "DicomCheckCalledAet": False,
                    "LuaScripts": [str(lua)],
                    "Plugins": [],
                    "StorageCompression": False,
                    "SaveJobs": False,
                    "DicomScpTimeout": 30,
                    # Each open association holds one of these threads, idle or not (default 4): leave room
                    # for the node's lanes and the senders of a benchmark at once.
                    "DicomThreadsCount": 16,
                }
            )
        )

    def start(self, timeout: float = 30, attempts: int = 3) -> Orthanc:
        """Start Orthanc; when a port was taken in the meantime, again on fresh ports (a bounded few times)."""
        for attempt in range(attempts):
            try:
                return self._start(timeout)
            except RuntimeError:
                log = (self.workdir / "orthanc.log").read_text(errors="replace")
                if "already in use" not in log.rsplit("Orthanc version", 1)[-1] or attempt == attempts - 1:
                    raise
                self._write_config()
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> Orthanc:
        log = open(self.workdir / "orthanc.log", "ab")
        self.proc = subprocess.Popen(
            [ORTHANC, str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=NODELAY_ENV,
            cwd=self.workdir,
        )
        log.close()
        wait_for(lambda: self.proc.poll() is not None or self._up(), timeout, "Orthanc /system")
        if self.proc.poll() is not None:
            raise RuntimeError(f"Orthanc exited with {self.proc.returncode}; see {self.workdir / 'orthanc.log'}")
        return self

    def _up(self) -> bool:
        try:
            self.get("/system")
            return True
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop Orthanc; SIGTERM lets open associations finish, SIGKILL drops them (a crashed destination)."""
        if self.proc is not None:
            _stop(self.proc, sig)
            self.proc = None

    def get(self, path: str, raw: bool = False) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=10) as r:
            data = r.read()
        return data if raw else json.loads(data)

    def delete_all(self) -> None:
        for pid in self.get("/patients"):
            req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}/patients/{pid}", method="DELETE")
            urllib.request.urlopen(req, timeout=30).read()
        self.received_log.unlink(missing_ok=True)

    def count(self) -> int:
        return int(self.get("/statistics")["CountInstances"])

    def received(self) -> list[str]:
        """SOP Instance UIDs in order of reception, duplicates included."""
        if not self.received_log.exists():
            return []
        return self.received_log.read_text().split()


class Node:
    """``deidnode serve`` as a subprocess with a YAML config; JSON log in ``workdir/node.log``."""

    def __init__(self, workdir: Path, config: dict[str, Any], key_file: Path, wrapper: Sequence[str] = ()) -> None:
        import yaml

        self.wrapper = list(wrapper)
        """Command the node is started under (e.g. unshare for a private mount namespace); it must exec."""
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = config.setdefault("node", {}).setdefault("port", free_port())
        self.metrics_port = config.setdefault("metrics", {}).setdefault("port", free_port())
        config["node"].setdefault("host", "127.0.0.1")
        self.config_path = workdir / "node.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.config = config
        self.key_file = key_file
        self.log_path = workdir / "node.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 60) -> Node:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                *self.wrapper,
                sys.executable,
                "-m",
                "deidnode.cli",
                "serve",
                "--config",
                str(self.config_path),
                "--key-file",
                str(self.key_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        log.close()
        self.starts += 1
        wait_for(
            lambda: self.proc.poll() is not None or self._ready_count() >= self.starts,
            timeout,
            "node 'ready' log event",
        )
        if self.proc.poll() is not None:
            raise RuntimeError(f"node exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
        return self

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"event": "non_json", "line": line})
        return out

    def _ready_count(self) -> int:
        return sum(1 for e in self.events() if e.get("event") == "ready")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        rc = 0
        if self.proc is not None:
            rc = _stop(self.proc, sig, timeout)
            self.proc = None
        return rc

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def metric(self, name: str, **labels: str) -> float:
        m = self.metrics()
        if labels:
            name += "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
        return m.get(name, 0.0)


def storescu(
    port: int,
    files: Sequence[Path] | Path,
    *,
    aec: str = "DEIDNODE",
    aet: str = "CT1",
    timeout: float = 120,
    extra: Sequence[str] = (),
) -> subprocess.CompletedProcess:
    """Send files (or a folder, recursively) with dcmtk's storescu, Nagle off; verbose for per-file results."""
    args = [STORESCU, "-v", "-aet", aet, "-aec", aec, *extra]
    if isinstance(files, Path) and files.is_dir():
        args += ["+sd", "+r", "127.0.0.1", str(port), str(files)]
    else:
        args += ["127.0.0.1", str(port), *map(str, files)]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=NODELAY_ENV)


def acknowledged_files(storescu_output: str) -> list[str]:
    """Files for which storescu got a Success response (from its -v log)."""
    acked, current = [], None
    for line in storescu_output.splitlines():
        m = re.search(r"Sending file: (.+)$", line)
        if m:
            current = m.group(1).strip()
        elif "Received Store Response (Success)" in line and current:
            acked.append(current)
            current = None
    return acked


def echoscu(port: int, *, aet: str = "CT1", aec: str = "DEIDNODE", timeout: float = 30):
    return subprocess.run(
        [ECHOSCU, "-v", "-aet", aet, "-aec", aec, "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=NODELAY_ENV,
    )


STORESCP = "/usr/bin/storescp"


class StoreSCP:
    """dcmtk's ``storescp`` writing what it receives into ``workdir/in`` (named by SOP Instance UID); by default
    it accepts uncompressed transfer syntaxes only (Explicit/Implicit VR Little Endian, Explicit Big Endian)."""

    def __init__(self, workdir: Path, *options: str, aet: str = "STORESCP", port: int | None = None) -> None:
        self.workdir = workdir
        self.aet = aet
        self.port = port or free_port()
        self.options = options
        self.folder = workdir / "in"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.done = workdir / "done"
        self.done.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> StoreSCP:
        log = open(self.workdir / "storescp.log", "ab")
        self.proc = subprocess.Popen(
            # --fork: one process per association, as the node opens one per worker lane
            [
                STORESCP,
                "-v",
                "--fork",
                "-aet",
                self.aet,
                "-od",
                str(self.folder),
                "-uf",
                "-xcr",
                f"touch {self.done}/#f",
                *self.options,
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=NODELAY_ENV,
        )
        log.close()

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_for(lambda: self.proc.poll() is not None or listening(), timeout, "storescp listening")
        if self.proc.poll() is not None:
            raise RuntimeError(f"storescp exited: {(self.workdir / 'storescp.log').read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    def files(self) -> list[Path]:
        """The files storescp has finished writing. It writes each under its final name as the data arrives, so a
        file listed the moment it appears can still be empty or cut short (CI once read one with no preamble
        yet); storescp marks each file it has stored in ``workdir/done`` (``-xcr``, run after the store)."""
        return sorted(p for p in self.folder.iterdir() if p.is_file() and (self.done / p.name).exists())

    def log(self) -> str:
        return (self.workdir / "storescp.log").read_text(errors="replace")


def send_raw(
    port: int,
    sop_class: str,
    sop_instance: str,
    transfer_syntax: str,
    body: bytes,
    *,
    calling: str = "CT1",
    called: str = "DEIDNODE",
    timeout: float = 30,
) -> int:
    """Send a data set's bytes as they are (even malformed) in one C-STORE with the node's own upper layer;
    returns the C-STORE-RSP status."""
    from deidnode.dimse import Link, acse
    from deidnode.dimse import commands as cmds

    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    link = Link(sock)
    try:
        acc = acse.request(
            link, calling_ae=calling, called_ae=called, contexts=[(sop_class, [transfer_syntax])], max_pdu=0
        )
        (cx_id,) = acc.contexts
        link.send_message(cx_id, cmds.store_rq(1, sop_class, sop_instance), body)
        _, rsp = link.read_command()
        link.send_release_rq()
        link.read_pdu()
        return int(rsp.status)
    finally:
        link.close()


def pynetdicom_send(port: int, files: Sequence[Path], *, calling: str = "CT1", called: str = "DEIDNODE") -> list[int]:
    """Send files with pynetdicom on one association, each in its own transfer syntax only (no conversion by
    the sender); returns the C-STORE statuses."""
    from pydicom import dcmread
    from pynetdicom import AE

    ae = AE(ae_title=calling)
    pairs = []
    for f in files:
        meta = dcmread(f, stop_before_pixels=True).file_meta
        pairs.append((str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)))
    for sop, ts in dict.fromkeys(pairs):
        ae.add_requested_context(sop, [ts])
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert assoc.is_established, "association refused"
    try:
        return [int(assoc.send_c_store(Path(f)).Status) for f in files]
    finally:
        assoc.release()


class HAProxy:
    """HAProxy in the foreground with the config text given (which must name ``socket`` as its admin stats
    socket and listen on ``port``); log in ``workdir/haproxy.log``."""

    def __init__(self, workdir: Path, config: str, *, port: int, socket: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "haproxy.cfg"
        self.config_path.write_text(config)
        self.port = port
        self.socket = socket
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> HAProxy:
        log = open(self.workdir / "haproxy.log", "ab")
        self.proc = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        log.close()
        wait_for(lambda: self.proc.poll() is not None or self._up(), timeout, "HAProxy admin socket")
        if self.proc.poll() is not None:
            raise RuntimeError(f"haproxy exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
        return self

    def _up(self) -> bool:
        try:
            return bool(self.command("show info"))
        except OSError:
            return False

    def log(self) -> str:
        return (self.workdir / "haproxy.log").read_text(errors="replace")

    def command(self, cmd: str) -> str:
        """One command on the admin socket (``show stat``, ``set server b/s state drain``, ...)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(self.socket))
            s.sendall(cmd.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self, backend: str) -> dict[str, dict[str, str]]:
        """``show stat`` rows of ``backend``'s servers by name (status UP/DOWN/DRAIN/MAINT, scur, stot, ...)."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
        return {r["svname"]: r for r in rows if r["pxname"] == backend and r["svname"] not in ("FRONTEND", "BACKEND")}

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None
