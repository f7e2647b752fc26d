"""examples/cross_bot.py as a user runs it: a subprocess against a real server.

The market replays a file that swings NFLX from 99.00 to 101.00 and back every 200 ms, in a
loop, so the bot's level (100.50) is crossed within half a second whatever moment it starts
at. On a cross down the bot's buy limit at 100.50 is marketable (ask 99.02) and fills at once;
on a cross up it rests until the next 99.00.
"""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal
from pathlib import Path

from tests.realtime.conftest import fresh_settings
from tests.support import LiveServer

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "examples" / "cross_bot.py"
RUN_TIMEOUT = 30.0


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
    ticks = tmp_path / "swing.csv"
    rows = [
        "offset_ms,symbol,bid,ask,last",
        "0,NFLX,98.98,99.02,99.00",
        "200,NFLX,100.98,101.02,101.00",
    ]
    ticks.write_text("\n".join(rows) + "\n")
    settings = fresh_settings(
        tmp_path,
        migrated_database,
        market_source="replay",
        market_replay_file=ticks,
        market_replay_loop=True,
    )
    async with LiveServer(settings) as server:
        await crosses_and_places(server, Decimal("100.50"))


async def crosses_and_places(server: LiveServer, level: Decimal) -> None:
    session_id = await server.login()

    code, output = await run_bot(
        "--url", server.url, "--symbol", "NFLX", "--level", str(level),
        "--side", "buy", "--quantity", "3", "--wait-fill", "--verbose",
    )  # fmt: skip

    assert code == 0, output
    assert f"NFLX crossed {level}" in output, output
    async with server.http(session_id) as http:
        orders = (await http.get("/api/orders")).json()
    assert [(o["symbol"], o["side"], o["type"], o["quantity"], Decimal(o["limitPrice"]))
            for o in orders] == [("NFLX", "buy", "limit", 3, level)]  # fmt: skip
    [order] = orders
    assert order["status"] == "filled", order
    # a cross down makes the buy limit marketable (it fills at once); a cross up rests it until
    # the next 99.00, which --wait-fill waits for
    assert f"order {order['orderId']} is filled" in output or (
        f"order {order['orderId']} is open" in output and "filled: buy 3 NFLX at 99.02" in output
    ), output


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
