"""What the kernel says about a process and the cores: CPU time, resident memory, core load.

All of it from /proc (Linux only): `/proc/PID/stat` utime+stime (every thread of the process),
`/proc/PID/status` VmRSS and VmHWM (peak RSS), `/proc/stat` per-core busy time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcSample:
    """One reading of a process and of every core, at `t` (monotonic seconds)."""

    t: float
    cpu_s: float
    """utime + stime of the process so far, seconds (all threads)."""
    sys_s: float
    """stime alone: the kernel's share (socket writes and reads, epoll)."""
    rss_kb: int
    hwm_kb: int
    """Peak RSS so far (VmHWM)."""
    threads: int
    core_busy_s: dict[str, float] = field(default_factory=dict)
    """Per core ("cpu0", "cpu1"...): busy (non-idle, non-iowait) seconds since boot."""


def cpu_times(pid: int) -> tuple[float, float]:
    """(utime, stime) of the process so far, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # the command name (field 2) may contain spaces: split after its closing parenthesis
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return utime / CLOCK_TICKS, stime / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def memory_kb(pid: int) -> dict[str, int]:
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                found[key] = int(value.split()[0])
    return found


def core_busy_seconds() -> dict[str, float]:
    busy: dict[str, float] = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            name, *values = line.split()
            ticks = [int(v) for v in values]
            idle = ticks[3] + ticks[4]  # idle + iowait
            busy[name] = (sum(ticks[:8]) - idle) / CLOCK_TICKS
    return busy


def sample(pid: int) -> ProcSample:
    mem = memory_kb(pid)
    user_s, sys_s = cpu_times(pid)
    return ProcSample(
        t=time.monotonic(),
        cpu_s=user_s + sys_s,
        sys_s=sys_s,
        rss_kb=mem.get("VmRSS", 0),
        hwm_kb=mem.get("VmHWM", 0),
        threads=mem.get("Threads", 0),
        core_busy_s=core_busy_seconds(),
    )


def children(pid: int) -> list[int]:
    """Direct children of `pid` (every thread's children)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(c) for c in f.read().split())
        except FileNotFoundError:
            continue
    return found


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode(errors="replace") for part in f.read().split(b"\0") if part]
    except FileNotFoundError:
        return []


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (write 5 to clear_refs; needs the right to ptrace it), so
    the peak measured afterwards excludes set-up work such as password hashing."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]
