"""A trading bot on tradewire's Python client: watch one symbol's quotes and place a LIMIT
order at `--level` when the price crosses it.

    uv run python examples/cross_bot.py --url http://127.0.0.1:8000 \\
        --symbol AAPL --level 190 --side buy --quantity 1

"Crosses" means: the last price was on one side of the level and is now on the level or on
the other side (the first quote only tells the bot which side it starts on). The order is a
limit order at the level, so it fills only at the level or better. The bot exits once the
order is placed (with `--wait-fill`, once it is filled); with `--keep-running` it keeps
watching and places an order at every cross. It reconnects and resubscribes by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from decimal import Decimal, InvalidOperation

from tradewire.client import QUOTE_UPDATE, TRADE_EXECUTED, TradewireClient, TradewireError
from tradewire.schemas import OrderOut, Quote, Side

log = logging.getLogger("cross_bot")


class CrossDetector:
    """Feed it last prices; `crossed(price)` is True on the quote that reaches or passes the
    level from the side the earlier quotes were on."""

    def __init__(self, level: Decimal) -> None:
        self.level = level
        self.side = 0  # -1 below, +1 above, 0 not known yet

    def crossed(self, price: Decimal) -> bool:
        side = (price > self.level) - (price < self.level)
        if self.side == 0:
            self.side = side
            return False
        if side == self.side:
            return False
        self.side = side  # 0 (on the level) stays unknown until the price leaves it
        return True


async def run(args: argparse.Namespace) -> int:
    level = Decimal(args.level).quantize(Decimal("0.01"))
    side: Side = args.side
    async with TradewireClient(args.url) as client:
        await client.login(args.username, args.password)
        log.info("logged in as %s", args.username)
        await client.connect()
        detector = CrossDetector(level)
        quotes = client.stream(QUOTE_UPDATE)
        fills = client.stream(TRADE_EXECUTED)
        ack = await client.subscribe_watchlist([args.symbol])
        for quote in ack.quotes:
            detector.crossed(quote.last)
            log.info("%s last %s, level %s", quote.symbol, quote.last, level)
        placed: list[OrderOut] = []
        async for quote in quotes:
            log.debug("%s last %s (seq %d)", quote.symbol, quote.last, quote.seq)
            if not detector.crossed(quote.last):
                continue
            order = await place(client, quote, side, args.quantity, level)
            placed.append(order)
            if not args.keep_running:
                break
        if args.wait_fill and placed and placed[-1].status == "open":
            wanted = placed[-1].order_id
            async for fill in fills:
                if fill.order_id == wanted:
                    log.info("filled: %s %s %s at %s", fill.side, fill.quantity, fill.symbol,
                             fill.price)  # fmt: skip
                    break
    return 0 if placed and placed[-1].status != "rejected" else 1


async def place(
    client: TradewireClient, quote: Quote, side: Side, quantity: int, level: Decimal
) -> OrderOut:
    log.info("%s crossed %s (last %s): placing a %s limit order for %d at %s",
             quote.symbol, level, quote.last, side, quantity, level)  # fmt: skip
    order = await client.place_order(quote.symbol, side, quantity, type="limit", limit_price=level)
    log.info("order %d is %s%s", order.order_id, order.status,
             f" ({order.reject_reason})" if order.reject_reason else "")  # fmt: skip
    return order


def decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a price: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"not a price: {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="tradewire's origin")
    parser.add_argument("--symbol", required=True)
    parser.add_argument("--level", required=True, type=decimal, help="the price to watch")
    parser.add_argument("--side", required=True, choices=["buy", "sell"])
    parser.add_argument("--quantity", type=int, default=1)
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default="demo-password")
    parser.add_argument("--wait-fill", action="store_true", help="exit once the order fills")
    parser.add_argument("--keep-running", action="store_true", help="an order at every cross")
    parser.add_argument("--verbose", action="store_true", help="log every quote")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return asyncio.run(run(args))
    except TradewireError as exc:
        log.error("stopped: %s", exc)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
