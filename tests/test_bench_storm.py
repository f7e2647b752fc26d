"""The reconnection storm benchmark works: `bench/storm.py --smoke` drops 300 real Socket.IO
sockets' transports at once against a real tradewire server admitting 100 handshakes a second
(burst 50), and every socket comes back the way socket.io-client does, recovered.

No timing targets here (the figures live in docs/BENCHMARKS.md): the test checks what a user
would notice in a storm: refused handshakes are retried until every socket is back with its
session, `/healthz` answers throughout, and the sockets that never dropped stay connected and
keep getting quotes.
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
CLIENTS = 300
BYSTANDERS = 20


@pytest.fixture(scope="module")
def storm() -> dict[str, Any]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("the load harness needs Node and npm (see bench/README.md)")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "storm.py"), "--smoke", "--servers", "tradewire"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, f"bench/storm.py --smoke failed:\n{proc.stderr[-4000:]}"
    [line] = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert isinstance(line, dict)
    return line


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_every_dropped_socket_comes_back_recovered_after_503s(storm: dict[str, Any]) -> None:
    assert storm["server"] == "tradewire" and storm["clients"] == CLIENTS
    assert storm["admission"] == {"rate": 100, "burst": 50}
    initial = storm["initial"]
    assert initial["connected"] == initial["subscribed"] == CLIENTS, initial
    assert initial["refused_503"] > 0, "the initial connect was never refused: no admission limit?"
    result = storm["storm"]
    assert storm["storm_outcome"] == "back", result
    assert result["dropped"] == result["back"] == CLIENTS and result["not_back"] == 0, result
    assert result["refused_503"] > 0, "no reconnect was refused with 503"
    assert result["attempts"] == CLIENTS + result["refused_503"] + result["other_errors"]
    assert set(result["retry_after_s"]) and all(int(s) >= 1 for s in result["retry_after_s"])
    assert result["recovered"] == CLIENTS, f"{result['not_recovered']} came back with a new sid"
    assert result["quoted_after_back"] == CLIENTS, "recovered sockets lost their subscriptions"
    assert storm["storm_socket_disconnects"] == 0, storm["storm_socket_disconnect_reasons"]
    assert storm["reconnect_ms"]["n"] == CLIENTS


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_healthz_and_bystanders_are_served_through_the_storm(storm: dict[str, Any]) -> None:
    assert storm["bystanders_connected"] == storm["bystanders_subscribed"] == BYSTANDERS
    assert storm["bystander_disconnects"] == 0, storm["bystander_disconnect_reasons"]
    for name in ("before", "during", "after"):
        window = storm["windows"][name]
        health = window["healthz"]
        assert health["answered"] > 0 and health["failures"] == 0, (name, health)
        assert window["bystander_quotes"] > 0, f"no quote reached a bystander {name} the storm"
    during = storm["server_during"]
    assert during is not None and during["server_cpu_pct"] > 0
    # the server's garbage-collector passes, read from its /metrics at each phase
    passes = storm["gc_passes"]["connect"]
    assert set(passes) == {"gen0", "gen1", "gen2"}, passes
    assert passes["gen0"]["passes"] > 0, "no young collection while 320 sockets connected?"
    for window in ("before", "during", "after"):
        for gen in storm["gc_passes"][window].values():
            assert 0 <= gen["at_least_1s"] <= gen["at_least_0.1s"] <= gen["passes"], gen
