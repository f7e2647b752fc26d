"""The load harness itself works: `bench/run.py --smoke` runs 20 real Socket.IO clients against a
real tradewire server and the Node comparison server, and reports what it measured.

No timing targets here (benchmarks live in docs/BENCHMARKS.md): the test checks that the harness
connects, subscribes, counts quote updates and matches orders to their `trade:executed`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULT_FIELDS = {
    "scenario",
    "server",
    "clients",
    "connected",
    "connect_errors",
    "subscribed",
    "quotes_expected",
    "quotes_delivered",
    "delivered_ratio",
    "quote_updates_per_s",
    "quote_latency_ms",
    "order_latency_ms",
    "orders_sent",
    "trade_events_matched",
    "server_cpu_pct",
    "server_cpu_s",
    "cpu_s_per_m_updates",
    "rss_idle_mb",
    "rss_steady_mb",
    "rss_peak_mb",
    "rss_per_conn_kb",
    "generator_cpu_pct",
    "covered_ratio",
    "instances",
}


def run_bench(script: str, *args: str, timeout: float = 280) -> str:
    """Run `bench/<script>` with `args`; its standard output, once it exited 0."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"bench/{script} {' '.join(args)} failed:\n{proc.stderr[-4000:]}"
    return proc.stdout


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def smoke_results() -> dict[str, dict[str, object]]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("the load harness needs Node and npm (see bench/README.md)")
    return {str(r["server"]): r for r in json_lines(run_bench("run.py", "--smoke"))}


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("server", ["tradewire", "node"])
def test_smoke_run_reports_every_figure(
    smoke_results: dict[str, dict[str, object]], server: str
) -> None:
    assert server in smoke_results, f"no result line for {server}: {sorted(smoke_results)}"
    result = smoke_results[server]
    missing = RESULT_FIELDS - result.keys()
    assert not missing, f"result line lacks {sorted(missing)}"
    assert result["connect_errors"] == 0, result.get("connect_error_reasons")
    assert result["connected"] == result["clients"] == 20
    assert result["subscribed"] == 20, result.get("subscribe_error_reasons")


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("server", ["tradewire", "node"])
def test_smoke_run_delivers_quotes_and_trades(
    smoke_results: dict[str, dict[str, object]], server: str
) -> None:
    result = smoke_results[server]
    delivered = result["quotes_delivered"]
    assert isinstance(delivered, int) and delivered > 0
    assert result["quotes_expected"] and delivered <= result["quotes_expected"]
    latency = result["quote_latency_ms"]
    assert isinstance(latency, dict) and latency["p50"] is not None
    assert result["orders_sent"], "the harness placed no order"
    assert result["trade_events_matched"], "no trade:executed was matched to an order"
    assert result["rss_steady_mb"] > 0 and result["server_cpu_s"] > 0
    [instance] = result["instances"]  # type: ignore[misc]
    assert instance["trade_events"] == instance["trade_events_expected"] > 0
    assert instance["trade_push_ms"]["n"] == instance["trade_events"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_lean_client_gets_every_batch_and_trade_from_both_servers() -> None:
    """S2's generator client (bench/harness/lean.js, Socket.IO without socket.io-client) connects
    with the session, subscribes with an ack, and counts `quotes:update` batches and trade pushes
    like the stock client: every quote of the window covered, every push received."""
    results = json_lines(run_bench("run.py", "--scenarios", "smoke-lean"))
    assert sorted(str(r["server"]) for r in results) == ["node", "tradewire"]
    for result in results:
        assert result["scenario_config"]["client"] == "lean"
        assert result["batch"] is True
        assert result["connected"] == result["subscribed"] == 20, result["connect_error_reasons"]
        assert result["quotes_expected"] and result["covered_ratio"] == 1
        assert 0 < result["quotes_delivered"] <= result["quotes_expected"]
        [instance] = result["instances"]
        assert instance["trade_events"] == instance["trade_events_expected"] > 0
        assert result["trade_events_matched"] == result["orders_filled"] > 0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_idle_run_holds_subscribed_sockets_and_sends_nothing() -> None:
    """S5's shape at 20 sockets: every socket connected and subscribed, no quote window and no
    orders, the server's memory and CPU of the idle steady state reported, and the docs' S5
    rows rendered from the records."""
    results = json_lines(run_bench("run.py", "--scenarios", "smoke-idle"))
    assert sorted(str(r["server"]) for r in results) == ["node", "tradewire"]
    for result in results:
        assert result["idle"] is True and result["scenario_config"]["client"] == "lean"
        assert result["connected"] == result["subscribed"] == 20, result["connect_error_reasons"]
        assert result["quotes_expected"] == 0 and result["delivered_ratio"] is None
        assert result["orders_sent"] == 0 and result["cpu_s_per_m_updates"] is None
        assert result["rss_steady_mb"] > 0 and result["server_cpu_s"] >= 0
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import report
    finally:
        sys.path.remove(str(ROOT / "bench"))
    records = [{**r, "scenario": "S5"} for r in results]
    table = report.targets_table(records)
    rows = {line.split(" | ")[1]: line for line in table.splitlines() if line.startswith("| S5 |")}
    assert "20 connected, 20 subscribed" in rows["every idle connection connected and subscribed"]
    assert "KB at steady state" in rows["RSS per idle subscribed connection ≤ 12 KB"]


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_cluster_smoke_run_reports_the_far_instance() -> None:
    """Two instances on a real redis-server and PostgreSQL (bench/cluster_run.py): the far
    instance's sockets get every quote and every trade push, and both instances are reported."""
    [result] = json_lines(run_bench("run.py", "--scenarios", "cluster-smoke"))
    assert result["server"] == "tradewire-cluster" and result["connected"] == 20
    near, far = result["instances"]
    assert near["url"] != far["url"]
    for instance in (near, far):
        assert instance["quotes_expected"] > 0 and instance["covered_ratio"] == 1
        assert instance["trade_events"] == instance["trade_events_expected"] > 0
    assert result["far"] == far and result["far"]["trade_push_ms"]["p99"] is not None
    assert set(result["instance_cpu_pct"]) == {"A", "B"}


@pytest.mark.timeout(200)
def test_memory_breakdown_names_where_each_connection_s_memory_goes() -> None:
    """bench/memory.py: 20 raw WebSocket clients against a traced server; the report gives the
    growth per connection and the allocating files and lines (the transport's WebSocket and
    Engine.IO layers must be among them: every connection has one of each)."""
    report = run_bench("memory.py", "--clients", "20", timeout=180)
    first = report.splitlines()[0]
    assert first.endswith("KiB per connection (20 connections)")
    assert float(first.split()[0]) > 1
    by_file = report.split("by file")[1].split("by line:")[0]
    assert "tradewire/realtime/websocket.py" in by_file or "websockets/" in by_file
    assert "tradewire/realtime/engine.py" in by_file or "tradewire/realtime/sockets.py" in by_file
