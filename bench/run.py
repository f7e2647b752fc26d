#!/usr/bin/env python3
"""Run the load scenarios against tradewire and the Node comparison server.

    uv run python bench/run.py                     # S1 and S2 (with S3, S4), both servers
    uv run python bench/run.py --write-docs        # ... and rewrite docs/BENCHMARKS.md
    uv run python bench/run.py --quick             # small versions of every scenario (~2 min)
    uv run python bench/run.py --smoke             # 20 clients, 5 s, both servers (the test)
    uv run python bench/run.py --soak 10           # S1's load for 10 minutes, RSS start/end
    uv run python bench/run.py --scenarios S1 --servers tradewire --profile
    uv run python bench/run.py --render bench/results/*.jsonl --write-docs

For each scenario and server: start the server pinned to core 0 (`taskset -c 0`), start the
generator (bench/harness, Node) pinned to core 1, sample the server's CPU time and RSS from /proc
at each phase the generator announces (idle, connected, subscribed, steady_start, steady_end),
then print one JSON line: the generator's client-side figures plus the server-side ones. Every
line is also appended to bench/results/<timestamp>.jsonl. Progress goes to stderr.

Every run is bounded: the generator stops by itself after warm-up + steady + drain, and the
orchestrator kills it (and the server) past `Scenario.timeout_s`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import profile as pyspy
import queue
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cluster_run
import procstat
import report
import scenarios
import servers
from scenarios import Scenario
from servers import BENCH, ROOT, SERVERS, Server, pinned, prepare_child

SERVER_CORE = 0
GENERATOR_CORE = 1
RESULTS = BENCH / "results"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_node_modules() -> None:
    """`npm ci` in bench/harness and bench/node-server when their lock file is newer."""
    for folder in (BENCH / "harness", BENCH / "node-server"):
        stamp = folder / "node_modules" / ".package-lock.json"
        lock = folder / "package-lock.json"
        if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
            continue
        log(f"npm ci in {folder.relative_to(ROOT)}")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            check=True,
            stdout=sys.stderr,
        )


def read_lines(stream: Any, out: queue.Queue[str | None]) -> None:
    """Put each line of `stream` (a child's stdout) on `out`, decoded, then None at its end."""
    for line in stream:
        out.put(line.decode(errors="replace"))
    out.put(None)


def run_generator(
    scenario: Scenario,
    server: Server,
    profile_to: Path | None,
    nice: int,
    others: tuple[Server, ...] = (),
) -> tuple[dict[str, Any], dict[str, list[procstat.ProcSample]], dict[str, Any] | None]:
    """Run the generator against `server`; sample the server at each phase.

    With `others` (a cluster): the sockets are spread over `server` and `others` round-robin,
    REST (users, orders) goes to `server`, and each of them is sampled too, under
    "<phase>@<index>" (1 for the first of `others`)."""
    config = scenario.generator_config(server.url)
    if others:
        config["socketUrls"] = [server.url, *(o.url for o in others)]
    gen_log = server.workdir / "generator.log"
    argv = ["node", str(BENCH / "harness" / "main.js"), json.dumps(config)]
    samples: dict[str, list[procstat.ProcSample]] = {}
    result: dict[str, Any] | None = None
    spy: subprocess.Popen[bytes] | None = None
    with gen_log.open("ab") as err:
        gen = subprocess.Popen(
            pinned(GENERATOR_CORE, argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            preexec_fn=lambda: prepare_child(nice),
            start_new_session=True,
        )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=read_lines, args=(gen.stdout, lines), daemon=True).start()
    deadline = time.monotonic() + scenario.timeout_s
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(
                    f"generator still running after {scenario.timeout_s:.0f}s"
                ) from None
            if line is None:
                break
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "phase" in msg:
                name = msg["phase"]
                if name == "idle":
                    procstat.reset_peak_rss(server.pid)
                samples.setdefault(name, []).append(procstat.sample(server.pid))
                for k, other in enumerate(others, start=1):
                    if name == "idle":
                        procstat.reset_peak_rss(other.pid)
                    samples.setdefault(f"{name}@{k}", []).append(procstat.sample(other.pid))
                log(f"{scenario.name}/{server.kind}: {name} {_brief(msg)}")
                if name == "steady_start" and profile_to is not None:
                    seconds = min(scenario.steady_s, 60)
                    spy = pyspy.start(server.pid, seconds, profile_to, GENERATOR_CORE)
            elif "result" in msg:
                result = msg["result"]
        gen.wait(timeout=30)
    finally:
        if gen.poll() is None:
            os.killpg(gen.pid, 9)
            gen.wait()
        if spy is not None:
            try:
                spy.wait(timeout=90)
            except subprocess.TimeoutExpired:
                spy.kill()
    if result is None:
        tail = gen_log.read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(
            f"generator exited {gen.returncode} without a result\n" + "\n".join(tail)
        )
    prof = pyspy.summarize(profile_to) if profile_to is not None else None
    return result, samples, prof


def _brief(msg: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in msg.items() if k not in ("phase", "t"))


def server_figures(
    result: dict[str, Any], samples: dict[str, list[procstat.ProcSample]]
) -> dict[str, Any]:
    idle = samples["idle"][0]
    connected = samples.get("connected", [idle])[0]
    start = samples["steady_start"][0]
    end = samples["steady_end"][0]
    wall = end.t - start.t
    cpu = end.cpu_s - start.cpu_s
    n = max(1, result["connected"])
    mb = 1024.0

    def core_pct(core: str) -> float:
        return 100 * (end.core_busy_s.get(core, 0) - start.core_busy_s.get(core, 0)) / wall

    server_pct = 100 * cpu / wall
    delivered = result["quotes_delivered"]
    return {
        "server_cpu_pct": server_pct,
        "server_cpu_s": cpu,
        "server_sys_pct": 100 * (end.sys_s - start.sys_s) / wall,
        "cpu_s_per_m_updates": cpu / delivered * 1e6 if delivered else None,
        "rss_idle_mb": idle.rss_kb / mb,
        "rss_connected_mb": connected.rss_kb / mb,
        "rss_steady_start_mb": start.rss_kb / mb,
        "rss_steady_mb": end.rss_kb / mb,
        "rss_peak_mb": end.hwm_kb / mb,
        "rss_per_conn_kb": (end.rss_kb - idle.rss_kb) / n,
        "rss_per_conn_connected_kb": (connected.rss_kb - idle.rss_kb) / n,
        "server_threads": end.threads,
        "core0_busy_pct": core_pct(f"cpu{SERVER_CORE}"),
        "core0_other_pct": core_pct(f"cpu{SERVER_CORE}") - server_pct,
        "core1_busy_pct": core_pct(f"cpu{GENERATOR_CORE}"),
        "rss_series": [
            {"elapsed_s": s.t - start.t, "rss_mb": s.rss_kb / mb}
            for s in [start, *samples.get("sample", []), end]
        ],
    }


def run_one(
    scenario: Scenario, kind: str, args: argparse.Namespace, src: Path | None
) -> dict[str, Any]:
    log(f"{scenario.name}/{kind}: starting server ({scenario.title})")
    loadavg = procstat.loadavg()
    started = time.time()
    server_args: dict[str, Any] = {"nice": args.nice}
    if kind == "tradewire":
        server_args["src"] = src
    with SERVERS[kind](SERVER_CORE, scenario.tick_rate, scenario.symbols, **server_args) as server:
        profile_to = None
        if args.profile and kind == "tradewire":
            profile_to = RESULTS / f"profile-{scenario.name}-{kind}.txt"
        result, samples, prof = run_generator(scenario, server, profile_to, args.nice)
    record: dict[str, Any] = {
        "scenario": scenario.name,
        "server": kind,
        "started": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
        "loadavg_start": loadavg,
        "nice": args.nice,
        "command": args.command,
        "server_version": (
            servers.source_version(src) if kind == "tradewire" else "bench/node-server"
        ),
        **result,
        **server_figures(result, samples),
        "targets": scenario.targets,
        "scenario_config": scenario.describe(),
    }
    if prof is not None:
        record["profile"] = prof
    record["targets_met"] = report.check_targets(record)
    return record


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small versions of S1 and S2")
    mode.add_argument("--smoke", action="store_true", help="20 clients for 5 s (the test)")
    mode.add_argument("--soak", type=float, metavar="MINUTES", help="S1's load for MINUTES")
    mode.add_argument("--scenarios", help="comma-separated names (S1,S2,S1-quick,...)")
    mode.add_argument(
        "--cluster", action="store_true", help="two instances on one Redis (bench/cluster_run.py)"
    )
    mode.add_argument("--render", nargs="+", type=Path, metavar="JSONL", help="no runs: reuse")
    p.add_argument("--servers", default="tradewire,node", help="tradewire,node (default both)")
    p.add_argument(
        "--client",
        choices=["socket.io-client", "lean"],
        help="the generator's Socket.IO client for every run (default: each scenario's own)",
    )
    p.add_argument("--write-docs", action="store_true", help="rewrite docs/BENCHMARKS.md")
    p.add_argument("--profile", action="store_true", help="py-spy the tradewire server")
    p.add_argument(
        "--tradewire-ref",
        metavar="REF",
        help="serve tradewire from `git archive REF src` (default: the work tree)",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="scheduling priority of server and generator (negative needs root; for a shared "
        "machine, recorded in the results)",
    )
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {GENERATOR_CORE})  # keep the orchestrator off the server core
    command = "uv run python bench/run.py " + shlex.join(argv)
    args.command = command
    if args.render:
        records = [json.loads(line) for f in args.render for line in f.read_text().splitlines()]
        if args.write_docs:
            log(f"wrote {report.write_docs(records, [])}")
        return 0

    if args.cluster:
        plan = [scenarios.CLUSTER, scenarios.CLUSTER_S1]
    elif args.smoke:
        plan = scenarios.SMOKE
    elif args.quick:
        plan = scenarios.QUICK
    elif args.soak:
        plan = [scenarios.soak(args.soak)]
    elif args.scenarios:
        plan = scenarios.by_name(args.scenarios.split(","))
    else:
        plan = scenarios.FULL
    if args.client:
        plan = [dataclasses.replace(s, client=args.client) for s in plan]
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in SERVERS]
    if unknown:
        raise SystemExit(f"unknown server(s) {unknown}; known: {sorted(SERVERS)}")

    ensure_node_modules()
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out_path = RESULTS / f"{stamp}.jsonl"
    src = None
    if args.tradewire_ref:
        src = servers.snapshot_source(args.tradewire_ref, RESULTS / f"src-{stamp}")
        log(f"tradewire from {args.tradewire_ref} ({servers.source_version(src)}) in {src}")
    records = []
    for scenario in plan:
        in_cluster = scenario.name.startswith("cluster")
        for kind in ["tradewire"] if in_cluster else kinds:
            if in_cluster:
                record = cluster_run.run_cluster(scenario, args, src, run_generator, SERVER_CORE)
            else:
                record = run_one(scenario, kind, args, src)
            records.append(record)
            line = json.dumps(record, separators=(",", ":"))
            print(line, flush=True)
            with out_path.open("a") as f:
                f.write(line + "\n")
    log(f"results in {out_path.relative_to(ROOT)}")
    if args.write_docs:
        log(f"wrote {report.write_docs(records, [command])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
