"""py-spy on the tradewire server during the steady state, and a summary of where time goes.

py-spy is not a project dependency: it runs through `uv tool run py-spy` (an ephemeral tool
environment). It samples in `--nonblocking` mode (the server is never paused) at 100 Hz, pinned
to the generator's core, and writes collapsed stacks ("frame;frame;frame count" per line).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from servers import pinned

RATE_HZ = 100
_FRAME = re.compile(r"^(?P<fn>.+?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def start(pid: int, seconds: float, output: Path, core: int) -> subprocess.Popen[bytes] | None:
    uv = shutil.which("uv")
    if uv is None:
        print("profile: uv not found; skipping py-spy", file=sys.stderr)
        return None
    # BENCH_PROFILE_NATIVE=1: C frames too (uvloop, the kernel calls under it); py-spy then has
    # to pause the process for each sample, which costs the server some throughput
    native = ["--native"] if os.environ.get("BENCH_PROFILE_NATIVE") else ["--nonblocking"]
    argv = [
        uv, "tool", "run", "py-spy", "record",
        "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(RATE_HZ),
        *native, "--format", "raw", "--output", str(output),
    ]  # fmt: skip
    return subprocess.Popen(pinned(core, argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _label(frame: str) -> str:
    """'emit (socketio/async_server.py:123)' -> 'socketio/async_server.py:emit'."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path.lstrip('/')}:{m.group('fn')}"


BOILERPLATE = (
    "<frozen runpy>",
    "click/",
    "tradewire/__main__.py",
    "tradewire/cli.py:serve",
    "uvicorn/server.py:Server.run",
    "uvicorn/_compat.py",
    "asyncio/runners.py:Runner.run",
    "threading.py",
)
"""Frames on nearly every stack (start-up, the loop's own frame): left out of the inclusive list."""


def _area(label: str) -> str:
    """The package a frame belongs to: 'socketio', 'engineio', 'asyncio', 'uvicorn'..."""
    head = label.split(":", 1)[0]
    if head.startswith("<"):
        return head
    return head.split("/", 1)[0] if "/" in head else head.removesuffix(".py")


def summarize(raw: Path, top: int = 15) -> dict[str, object] | None:
    """Top functions by self and inclusive share of the samples, and self time per package.

    Non-blocking sampling sometimes catches a coroutine stack without its outer frames; such
    samples still count for self time (the leaf is right) but make inclusive shares too low."""
    try:
        lines = raw.read_text().splitlines()
    except FileNotFoundError:
        return None
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_label(f) for f in stack.split(";")]
        # the first frame is the thread ("process 123:\"python\"" / thread id): not code
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        self_time[frames[-1]] += count
        areas[_area(frames[-1])] += count
        for f in set(frames):
            if not f.startswith(BOILERPLATE):
                inclusive[f] += count
    if not total:
        return None
    return {
        "samples": total,
        "seconds": total / RATE_HZ,
        "self": [(f, 100 * c / total) for f, c in self_time.most_common(top)],
        "inclusive": [(f, 100 * c / total) for f, c in inclusive.most_common(top)],
        "areas": [(a, 100 * c / total) for a, c in areas.most_common(10)],
    }
