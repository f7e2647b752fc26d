"""Where a connection's memory goes: tradewire under tracemalloc, N idle subscribed sockets.

    uv run python bench/memory.py                  # 1,000 sockets, batches, 10 symbols each
    uv run python bench/memory.py --clients 2000 --plain

The server (`tradewire serve`, fresh SQLite, feed at 1 tick/s) runs in a child process with
tracemalloc on. After the logins it takes a snapshot; then `--clients` raw Engine.IO v4
WebSocket clients (the `websockets` library, no Socket.IO client objects) connect with a
session, subscribe to 10 symbols and answer pings; once every subscription is acknowledged and
3 seconds of quotes have gone out, the server compares a second snapshot with the first and this
script prints the growth per connection, by file and by line. Python allocations only: RSS per
connection (bench/run.py) adds the allocator's own overhead and fragmentation.

"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import linecache
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import websockets
from servers import ROOT, free_port, raise_open_files

SOCKETS_PER_USER = 50


def serve(port: int, report: Path, clients: int) -> None:
    """The child: tradewire serve with tracemalloc; SIGUSR1 snapshots, SIGUSR2 writes the diff."""
    tracemalloc.start(1)
    from tradewire import cli

    snapshots: list[tracemalloc.Snapshot] = []
    skip = [tracemalloc.Filter(False, tracemalloc.__file__)]

    def take(*_: object) -> None:
        gc.collect()
        snapshots.append(tracemalloc.take_snapshot().filter_traces(skip))

    def baseline(*_: object) -> None:
        take()
        report.with_suffix(".baseline").touch()  # the driver connects its clients after this

    def compare(*_: object) -> None:
        if not snapshots:
            report.write_text("no baseline snapshot was taken\n")
            return
        take()
        before, after = snapshots[0], snapshots[-1]
        lines = []
        by_file = after.compare_to(before, "filename")
        total = sum(s.size_diff for s in by_file)
        lines.append(f"{total / clients / 1024:.1f} KiB per connection ({clients:,} connections)")
        lines.append("\nby file (bytes and objects per connection):")
        for s in by_file[:25]:
            lines.append(
                f"{s.size_diff / clients:8.0f} B {s.count_diff / clients:6.1f}  "
                f"{_short(s.traceback[0].filename)}"
            )
        lines.append("\nby line:")
        for s in after.compare_to(before, "lineno")[:40]:
            frame = s.traceback[0]
            code = linecache.getline(frame.filename, frame.lineno).strip()[:80]
            lines.append(
                f"{s.size_diff / clients:8.0f} B {s.count_diff / clients:6.1f}  "
                f"{_short(frame.filename)}:{frame.lineno}  {code}"
            )
        report.write_text("\n".join(lines) + "\n")

    signal.signal(signal.SIGUSR1, baseline)
    signal.signal(signal.SIGUSR2, compare)
    sys.argv = ["tradewire", "serve", "--port", str(port)]
    cli.main()


def _short(filename: str) -> str:
    """`uvicorn/...`, `tradewire/...`, `asyncio/...`: the path from the package on."""
    return re.sub(r"^.*/(site-packages|src|lib/python3\.\d+)/", "", filename)


async def client(
    url: str, session_id: str, symbols: list[str], batch: bool, subscribed: asyncio.Future[None]
) -> None:
    """One raw Socket.IO client over WebSocket: open, connect with the session, subscribe
    (`subscribed` is set on the ack), then answer pings until cancelled."""
    async with websockets.connect(
        url + "/socket.io/?EIO=4&transport=websocket", compression=None
    ) as ws:
        await ws.recv()  # Engine.IO open
        await ws.send("40" + json.dumps({"sessionId": session_id}))
        while not (answer := str(await ws.recv())).startswith("40"):
            if answer.startswith("44"):
                raise RuntimeError(f"connect refused: {answer}")
        event = ["subscribe:watchlist", {"symbols": symbols, "batch": batch}]
        await ws.send("421" + json.dumps(event))
        async for message in ws:
            if message == "2":
                await ws.send("3")
            elif str(message).startswith("431") and not subscribed.done():
                subscribed.set_result(None)


async def drive(base: str, pid: int, clients: int, batch: bool, report: Path) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        sessions = []
        for n in range(max(1, -(-clients // SOCKETS_PER_USER))):
            account = {"username": f"memory{n}", "password": "memory-password-1"}
            await http.post("/api/auth/register", json=account)
            sessions.append((await http.post("/api/auth/login", json=account)).json()["sessionId"])
        symbols = [q["symbol"] for q in (await http.get("/api/quotes")).json()]
    # the snapshots are taken in the server's signal handlers; each step waits for the last to
    # be done, so a slow snapshot cannot overlap the next one
    os.kill(pid, signal.SIGUSR1)
    await asyncio.to_thread(wait_for_file, report.with_suffix(".baseline"), 120)
    ws_url = base.replace("http://", "ws://")
    tasks: list[asyncio.Task[Any]] = []
    subscribed = [asyncio.get_running_loop().create_future() for _ in range(clients)]
    for n in range(clients):
        watch = [symbols[(n + k) % len(symbols)] for k in range(10)]
        session = sessions[n % len(sessions)]
        tasks.append(asyncio.create_task(client(ws_url, session, watch, batch, subscribed[n])))
        if n % 50 == 49:
            await asyncio.sleep(0.05)
    done, _ = await asyncio.wait(
        [asyncio.ensure_future(asyncio.gather(*subscribed)), *tasks],
        timeout=120,
        return_when=asyncio.FIRST_COMPLETED,
    )
    failed = [t for t in tasks if t.done()]
    if failed:
        raise RuntimeError(f"{len(failed)} clients ended early: {failed[0].exception()!r}")
    if not done:
        ready = sum(f.done() for f in subscribed)
        raise RuntimeError(f"{ready} of {clients} clients subscribed within 120 s")
    await asyncio.sleep(3)  # a few quotes to every socket, so its buffers are in use
    os.kill(pid, signal.SIGUSR2)
    await asyncio.to_thread(wait_for_file, report, 120)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def wait_for_file(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server wrote no {path.name} within {timeout:.0f} s")
        time.sleep(0.2)


def measure(work: Path, clients: int, *, batch: bool) -> str:
    """Start the traced server in `work`, connect the clients, return the report."""
    report, port = work / "report.txt", free_port()
    env = dict(
        os.environ,
        DATA_DIR=str(work / "data"),
        AUTH_RATE_LIMIT="1000000/minute",
        MARKET_TICK_RATE="1",
        SEED_DEMO="false",
        LOG_LEVEL="warning",
        DASHBOARD_DIR=str(work / "no-dashboard"),
    )
    argv = [sys.executable, __file__, "--serve", str(port), str(report)]
    argv += ["--clients", str(clients)]
    server = subprocess.Popen(argv, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        asyncio.run(drive(base, server.pid, clients, batch, report))
        return report.read_text()
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--plain", action="store_true", help="`quote:update` instead of batches")
    p.add_argument("--serve", nargs=2, metavar=("PORT", "REPORT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(int(args.serve[0]), Path(args.serve[1]), args.clients)
        return 0
    raise_open_files()
    with tempfile.TemporaryDirectory(prefix="tradewire-memory-") as tmp:
        print(measure(Path(tmp), args.clients, batch=not args.plain))
    return 0


if __name__ == "__main__":
    sys.exit(main())
