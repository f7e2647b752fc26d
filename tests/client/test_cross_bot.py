"""examples/cross_bot.py as a user runs it: a subprocess against a real server whose simulated
market moves, with the level at the current price.

How soon a random walk comes back to where it was is heavy-tailed: the chance it has not within
t seconds is about 0.8 / sqrt(ticks per second * t), whatever the symbol. So the market here
ticks 200 times a second (two symbols only, to keep it cheap): within 90 s the cross is all but
certain."""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal
from pathlib import Path

from tests.realtime.conftest import fresh_settings
from tests.support import LiveServer

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "examples" / "cross_bot.py"
RUN_TIMEOUT = 90.0


async def run_bot(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(BOT), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            while line := await process.stdout.readline():
                lines.append(line.decode())
            code = await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(
            f"the bot did not finish within {RUN_TIMEOUT}s:\n{''.join(lines[-40:])}"
        ) from None
    return code, "".join(lines)


async def test_the_bot_places_a_limit_order_when_the_price_crosses_its_level(
    tmp_path: Path, migrated_database: Path
) -> None:
    settings = fresh_settings(
        tmp_path, migrated_database, market_symbols="NFLX,AAPL", market_tick_rate=200.0
    )
    async with LiveServer(settings) as server:
        await crosses_and_places(server)


async def crosses_and_places(server: LiveServer) -> None:
    session_id = await server.login()
    async with server.http(session_id) as http:
        [quote] = (await http.get("/api/quotes", params={"symbols": "NFLX"})).json()
    level = Decimal(quote["last"])

    code, output = await run_bot(
        "--url", server.url, "--symbol", "NFLX", "--level", str(level),
        "--side", "buy", "--quantity", "3", "--verbose",
    )  # fmt: skip

    assert code == 0, output
    assert f"NFLX crossed {level}" in output, output
    async with server.http(session_id) as http:
        orders = (await http.get("/api/orders")).json()
    assert [(o["symbol"], o["side"], o["type"], o["quantity"], Decimal(o["limitPrice"]))
            for o in orders] == [("NFLX", "buy", "limit", 3, level)]  # fmt: skip
    assert orders[0]["status"] in ("open", "filled")
    assert f"order {orders[0]['orderId']} is {orders[0]['status']}" in output


async def test_the_bot_refuses_a_level_that_is_not_a_price(server: LiveServer) -> None:
    code, output = await run_bot("--url", server.url, "--symbol", "AAPL", "--level", "cheap",
                                 "--side", "buy")  # fmt: skip
    assert code == 2 and "not a price" in output


async def test_the_bot_reports_bad_credentials(server: LiveServer) -> None:
    code, output = await run_bot(
        "--url", server.url, "--symbol", "AAPL", "--level", "100", "--side", "buy",
        "--password", "wrong-password",
    )  # fmt: skip
    assert code == 2 and "INVALID_CREDENTIALS" in output, output
