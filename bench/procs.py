"""What /proc says about the processes a benchmark starts: children, CPU time, peak memory (Linux only)."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces); field 0 is the state."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    """Live child processes of ``pid``."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int(_stat_fields(int(d.name))[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, plus that of its reaped children; 0 if it is gone."""
    try:
        f = _stat_fields(pid)
    except OSError:
        return 0.0
    return sum(int(x) for x in f[11:15]) / _TICK  # utime stime cutime cstime


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the most resident memory the process has had; None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
