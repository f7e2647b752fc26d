#!/usr/bin/env python3
"""The reconnection storm: N sockets lose their transport at once and all come back, while
bystander sockets that never drop and a /healthz poller watch the server.

    uv run python bench/storm.py                # 10,000 sockets; tradewire, then the Node server
    uv run python bench/storm.py --quick        # 1,000 sockets (~1 min per server)
    uv run python bench/storm.py --smoke        # 300 sockets, tradewire admitting 100/s (the test)
    uv run python bench/storm.py --clients 2000 --servers tradewire --handshake-rate 200

What it measures is the product's promise: the server admits new handshakes at a bounded rate
(`SOCKET_HANDSHAKE_RATE`, `SOCKET_HANDSHAKE_BURST`; past them HTTP 503 with `Retry-After`), so
10,000 sockets coming back at once neither stall `/healthz` nor the live sockets, and every
socket that dropped recovers its session (same sid, subscriptions kept).

For each server: start it pinned to core 0 (servers.py), run the generator
(bench/harness/storm.js) pinned to core 1, sample the server's CPU time and RSS from /proc at
each phase the generator announces (idle, connected, storm_start, storm_end, after_end), then
print one JSON line: the generator's figures and the server's. Every line is also appended to
bench/results/<timestamp>-storm.jsonl. Progress goes to stderr. The Node comparison server has
no admission limit and no connection-state recovery: its sockets come back as new sockets and
subscribe again.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import procstat
import servers
from prometheus_client.parser import text_string_to_metric_families
from run import GENERATOR_CORE, RESULTS, SERVER_CORE, ensure_node_modules, log, read_lines
from servers import BENCH, ROOT, SERVERS, Server, pinned, prepare_child

SOCKETS_PER_SESSION = 50
"""Storm sockets per user (one login session each): a login costs an argon2 verify, and
tradewire allows a user 60 `subscribe:watchlist` per minute."""


@dataclass(frozen=True)
class Storm:
    """One reconnection storm: `clients` sockets on `clients / 50` users, each watching
    `symbols_per_client` symbols, `bystanders` more sockets on a user of their own watching
    `bystander_symbols`, a market of `symbols` ticking `tick_rate` times a second each."""

    name: str
    clients: int
    symbols: int = 50
    tick_rate: float = 0.2
    symbols_per_client: int = 10
    bystanders: int = 20
    bystander_symbols: int = 50
    workers: int = 4
    handshake_rate: float = 500.0
    """tradewire's SOCKET_HANDSHAKE_RATE for the run (the default of the setting)."""
    handshake_burst: int = 1000
    """tradewire's SOCKET_HANDSHAKE_BURST for the run (the default of the setting)."""
    baseline_s: float = 5.0
    after_s: float = 15.0
    """Watched after every socket is back: long enough for a full garbage-collector pass the
    storm's new objects bring on (tradewire); in two runs one came 5 and 6 s after the last
    socket."""
    setup_deadline_s: float = 150.0
    connect_deadline_s: float = 60.0
    storm_deadline_s: float = 75.0

    @property
    def users(self) -> int:
        return max(1, -(-self.clients // SOCKETS_PER_SESSION))

    @property
    def timeout_s(self) -> float:
        """Upper bound on one run, after which the orchestrator stops it."""
        phases = self.setup_deadline_s + self.connect_deadline_s + self.storm_deadline_s
        return 90 + phases + self.baseline_s + self.after_s

    def generator_config(self, url: str) -> dict[str, Any]:
        return {
            "url": url,
            "clients": self.clients,
            "users": self.users,
            "symbolsPerClient": self.symbols_per_client,
            "bystanders": self.bystanders,
            "bystanderSymbols": self.bystander_symbols,
            "workers": self.workers,
            "baselineS": self.baseline_s,
            "afterS": self.after_s,
            "setupDeadlineS": self.setup_deadline_s,
            "connectDeadlineS": self.connect_deadline_s,
            "stormDeadlineS": self.storm_deadline_s,
        }


FULL = Storm(name="storm", clients=10_000)
QUICK = Storm(name="storm-quick", clients=1000, workers=2)
SMOKE = Storm(
    name="storm-smoke",
    clients=300,
    workers=1,
    handshake_rate=100,
    handshake_burst=50,
    baseline_s=2,
    after_s=1,
    setup_deadline_s=30,
    connect_deadline_s=30,
    storm_deadline_s=30,
)


def listen_overflows() -> int | None:
    """The kernel's count of connections dropped because a listening socket's accept queue was
    full (TcpExt ListenOverflows in /proc/net/netstat): machine-wide, since boot."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            found = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(found["ListenOverflows"]) if "ListenOverflows" in found else None
    return None


GC_PAUSE_THRESHOLDS = (0.1, 0.25, 0.5, 1.0)
"""Seconds: `gc_passes` counts the garbage-collector passes at least this long."""


def gc_pauses(url: str) -> dict[str, dict[float, float]] | None:
    """tradewire's `tradewire_gc_pause_seconds` now: per generation, the cumulative count of
    each histogram bucket (`le` -> passes; `inf` is every pass) and, under -1.0, the seconds
    of all passes; None for a server without the metric."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    found: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "tradewire_gc_pause_seconds":
            continue
        for sample in family.samples:
            gen = found.setdefault(sample.labels["generation"], {})
            if sample.name.endswith("_bucket"):
                gen[float(sample.labels["le"])] = sample.value
            elif sample.name.endswith("_sum"):
                gen[-1.0] = sample.value
    return found or None


def gc_passes(
    start: dict[str, dict[float, float]] | None, end: dict[str, dict[float, float]] | None
) -> dict[str, Any] | None:
    """Garbage-collector passes between two `gc_pauses` readings: per generation the passes,
    their seconds, and how many took at least each of GC_PAUSE_THRESHOLDS (bucket bounds)."""
    if start is None or end is None:
        return None
    out: dict[str, Any] = {}
    for gen, buckets in sorted(end.items()):
        before = start.get(gen, {})

        def delta(
            le: float, b: dict[float, float] = buckets, a: dict[float, float] = before
        ) -> float:
            return b.get(le, 0.0) - a.get(le, 0.0)

        total = delta(float("inf"))
        below = {
            t: max((le for le in buckets if 0 <= le < t), default=None) for t in GC_PAUSE_THRESHOLDS
        }
        out[f"gen{gen}"] = {
            "passes": int(total),
            "seconds": round(delta(-1.0), 3),
            **{
                f"at_least_{t:g}s": int(total - (delta(le) if le is not None else 0.0))
                for t, le in below.items()
            },
        }
    return out


def run_generator(
    storm: Storm, server: Server, nice: int
) -> tuple[dict[str, Any], dict[str, procstat.ProcSample]]:
    """Run storm.js against `server`; sample the server at each phase it announces."""
    config = json.dumps(storm.generator_config(server.url))
    argv = ["node", str(BENCH / "harness" / "storm.js"), config]
    gen_log = server.workdir / "storm.log"
    samples: dict[str, procstat.ProcSample] = {}
    overflows: dict[str, int | None] = {}
    pauses: dict[str, dict[str, dict[float, float]] | None] = {}
    result: dict[str, Any] | None = None
    with gen_log.open("ab") as err:
        gen = subprocess.Popen(
            pinned(GENERATOR_CORE, argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            preexec_fn=lambda: prepare_child(nice),
            start_new_session=True,
        )
    assert gen.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=read_lines, args=(gen.stdout, lines), daemon=True).start()
    deadline = time.monotonic() + storm.timeout_s
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"storm.js still running after {storm.timeout_s:.0f}s") from None
            if line is None:
                break
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "phase" in msg:
                name = msg["phase"]
                if name == "storm_start":
                    procstat.reset_peak_rss(server.pid)
                samples[name] = procstat.sample(server.pid)
                overflows[name] = listen_overflows()
                if server.kind == "tradewire":
                    pauses[name] = gc_pauses(server.url)
                brief = " ".join(f"{k}={v}" for k, v in msg.items() if k not in ("phase", "t"))
                log(f"{storm.name}/{server.kind}: {name} {brief}")
            elif "result" in msg:
                result = msg["result"]
        gen.wait(timeout=30)
    finally:
        if gen.poll() is None:
            os.killpg(gen.pid, 9)
            gen.wait()
    if result is None:
        tail = gen_log.read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(f"storm.js exited {gen.returncode} without a result\n" + "\n".join(tail))
    start, end = overflows.get("storm_start"), overflows.get("storm_end")
    if start is not None and end is not None:
        result["listen_overflows_during"] = end - start
    if pauses:
        result["gc_passes"] = {
            "connect": gc_passes(pauses.get("idle"), pauses.get("connected")),
            "before": gc_passes(pauses.get("connected"), pauses.get("storm_start")),
            "during": gc_passes(pauses.get("storm_start"), pauses.get("storm_end")),
            "after": gc_passes(pauses.get("storm_end"), pauses.get("after_end")),
        }
    return result, samples


def server_figures(samples: dict[str, procstat.ProcSample]) -> dict[str, Any]:
    """CPU of the serving process and of the cores before, during and after the storm; RSS."""
    mb = 1024.0

    def stretch(start: str, end: str) -> dict[str, float] | None:
        a, b = samples.get(start), samples.get(end)
        if a is None or b is None or b.t <= a.t:
            return None
        wall = b.t - a.t
        server_pct = 100 * (b.cpu_s - a.cpu_s) / wall

        def core(n: int) -> float:
            name = f"cpu{n}"
            return 100 * (b.core_busy_s.get(name, 0) - a.core_busy_s.get(name, 0)) / wall

        return {
            "seconds": wall,
            "server_cpu_pct": server_pct,
            "server_sys_pct": 100 * (b.sys_s - a.sys_s) / wall,
            "core0_other_pct": core(SERVER_CORE) - server_pct,
            "core1_busy_pct": core(GENERATOR_CORE),
        }

    def rss(name: str) -> float | None:
        s = samples.get(name)
        return s.rss_kb / mb if s is not None else None

    end = samples.get("after_end")
    return {
        "server_before": stretch("connected", "storm_start"),
        "server_during": stretch("storm_start", "storm_end"),
        "server_after": stretch("storm_end", "after_end"),
        "rss_idle_mb": rss("idle"),
        "rss_before_mb": rss("storm_start"),
        "rss_after_mb": rss("after_end"),
        "rss_peak_storm_mb": end.hwm_kb / mb if end is not None else None,
    }


def run_one(storm: Storm, kind: str, args: argparse.Namespace) -> dict[str, Any]:
    log(f"{storm.name}/{kind}: starting server ({storm.clients:,} storm sockets)")
    loadavg = procstat.loadavg()
    started = time.time()
    server_args: dict[str, Any] = {"nice": args.nice}
    admission: dict[str, float] | None = None
    if kind == "tradewire":
        admission = {"rate": storm.handshake_rate, "burst": storm.handshake_burst}
        server_args["extra_env"] = {
            "SOCKET_HANDSHAKE_RATE": str(storm.handshake_rate),
            "SOCKET_HANDSHAKE_BURST": str(storm.handshake_burst),
        }
    # the source a tradewire server loaded: the work tree when it started (someone may commit
    # while the run goes on; then the record names both)
    version = servers.source_version(None) if kind == "tradewire" else "bench/node-server"
    with SERVERS[kind](SERVER_CORE, storm.tick_rate, storm.symbols, **server_args) as server:
        result, samples = run_generator(storm, server, args.nice)
    if kind == "tradewire" and (now := servers.source_version(None)) != version:
        version = f"{version} (at the start; {now} at the end)"
    return {
        "scenario": storm.name,
        "server": kind,
        "started": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
        "loadavg_start": loadavg,
        "nice": args.nice,
        "command": args.command,
        "server_version": version,
        "admission": admission,
        "tick_rate": storm.tick_rate,
        **result,
        **server_figures(samples),
        "storm_config": dataclasses.asdict(storm),
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="1,000 sockets")
    mode.add_argument("--smoke", action="store_true", help="300 sockets, 100/s admitted (the test)")
    mode.add_argument("--clients", type=int, help="storm sockets (default 10,000)")
    p.add_argument("--servers", default="tradewire,node", help="tradewire,node (default both)")
    p.add_argument("--workers", type=int, help="generator worker processes")
    p.add_argument("--bystanders", type=int, help="sockets that never drop (default 20)")
    p.add_argument("--tick-rate", type=float, help="ticks per second per symbol (default 0.2)")
    p.add_argument("--handshake-rate", type=float, help="tradewire's SOCKET_HANDSHAKE_RATE")
    p.add_argument("--handshake-burst", type=int, help="tradewire's SOCKET_HANDSHAKE_BURST")
    p.add_argument("--nice", type=int, default=0, help="priority of server and generator")
    return p.parse_args(argv)


def plan(args: argparse.Namespace) -> Storm:
    storm = SMOKE if args.smoke else QUICK if args.quick else FULL
    changes: dict[str, Any] = {}
    if args.clients is not None:
        changes.update(name=f"storm-{args.clients}", clients=args.clients)
    for field, value in (
        ("workers", args.workers),
        ("bystanders", args.bystanders),
        ("tick_rate", args.tick_rate),
        ("handshake_rate", args.handshake_rate),
        ("handshake_burst", args.handshake_burst),
    ):
        if value is not None:
            changes[field] = value
    return dataclasses.replace(storm, **changes)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {GENERATOR_CORE})  # keep the orchestrator off the server core
    args.command = "uv run python bench/storm.py " + shlex.join(argv)
    storm = plan(args)
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in SERVERS]
    if unknown:
        raise SystemExit(f"unknown server(s) {unknown}; known: {sorted(SERVERS)}")
    ensure_node_modules()
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out_path = RESULTS / f"{stamp}-storm.jsonl"
    for kind in kinds:
        line = json.dumps(run_one(storm, kind, args), separators=(",", ":"))
        print(line, flush=True)
        with out_path.open("a") as f:
            f.write(line + "\n")
    log(f"results in {out_path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
