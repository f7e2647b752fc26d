"""The cluster benchmark: two tradewire instances on one redis-server and one PostgreSQL.

Instance A starts first and takes the feed lease (it runs the market feed for the cluster);
B starts once A is the feed leader. The generator spreads its sockets over A and B
(round-robin) and sends REST (users, sessions, orders) to A. So B is the *far* instance: each
quote reaches it through Redis (the instance bus), each `trade:executed` and
`portfolio:update` through python-socketio's Redis manager. Reported per instance: quote
latency (arrival minus the quote's `ts`), trade-push latency (arrival minus the trade's
`executedAt`: from the fill to the far socket), quotes covered and trade events received
against expected, and each instance's CPU.

redis-server and PostgreSQL come from Debian's packages and are started by the project's test
harness (tests/harness), on loopback, in temporary folders. Everything runs on the server core
except the generator.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import procstat
import report
import servers
from scenarios import Scenario
from servers import ROOT, TradewireServer

sys.path.insert(0, str(ROOT))  # the test harness's throwaway Redis and PostgreSQL

from tests.harness.postgres import PostgresServer
from tests.harness.redis import RedisServer

LEADER_TIMEOUT_S = 30


def wait_for_feed_leader(server: TradewireServer) -> None:
    deadline = time.monotonic() + LEADER_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{server.url}/readyz", timeout=2) as r:
                if json.load(r).get("feedLeader") is True:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"instance A did not take the feed lease within {LEADER_TIMEOUT_S}s")


def instance_cpu_pct(samples: dict[str, list[procstat.ProcSample]], suffix: str) -> float:
    start, end = samples[f"steady_start{suffix}"][0], samples[f"steady_end{suffix}"][0]
    return 100 * (end.cpu_s - start.cpu_s) / (end.t - start.t)


def run_cluster(
    scenario: Scenario,
    args: argparse.Namespace,
    src: Path | None,
    run_generator: Callable[..., Any],
    core: int,
) -> dict[str, Any]:
    """One cluster run; `run_generator` is run.py's. A, B, redis-server and PostgreSQL run on
    `core`, at the run's scheduling priority; the generator has the other core to itself."""
    print(f"[bench] {scenario.name}: starting redis-server, PostgreSQL, A and B", file=sys.stderr)
    loadavg = procstat.loadavg()
    started = time.time()
    with RedisServer() as redis, PostgresServer(database="tradewire_bench") as postgres:
        for server in (redis, postgres):  # PostgreSQL's backends, forked later, inherit both
            assert server.pid is not None
            os.sched_setaffinity(server.pid, {core})
            if args.nice:
                os.setpriority(os.PRIO_PROCESS, server.pid, args.nice)
        cluster_env = {"REDIS_URL": redis.url, "DATABASE_URL": postgres.url}
        options: dict[str, Any] = {"nice": args.nice, "src": src, "extra_env": cluster_env}
        rate, symbols = scenario.tick_rate, scenario.symbols
        with TradewireServer(core, rate, symbols, **options) as a:
            wait_for_feed_leader(a)
            with TradewireServer(core, rate, symbols, **options) as b:
                result, samples, _ = run_generator(scenario, a, None, args.nice, others=(b,))
    near, far = result["instances"]
    record: dict[str, Any] = {
        "scenario": scenario.name,
        "server": "tradewire-cluster",
        "started": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
        "loadavg_start": loadavg,
        "nice": args.nice,
        "command": args.command,
        "server_version": servers.source_version(src),
        **result,
        "near": near,
        "far": far,
        "instance_cpu_pct": {
            "A": instance_cpu_pct(samples, ""),
            "B": instance_cpu_pct(samples, "@1"),
        },
        "targets": scenario.targets,
        "scenario_config": scenario.describe(),
    }
    record["targets_met"] = report.check_targets(record)
    return record
