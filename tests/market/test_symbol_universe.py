from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tradewire.market.symbols import UNIVERSE, make_quote, select_symbols, symbol_info

TICKER = re.compile(r"^[A-Z.]{1,10}$")  # what schemas.Ticker accepts after upper-casing


def test_universe_is_large_unique_and_plausible() -> None:
    assert len(UNIVERSE) >= 60
    tickers = [info.symbol for info in UNIVERSE]
    assert len(set(tickers)) == len(tickers)
    for info in UNIVERSE:
        assert TICKER.match(info.symbol), info
        assert info.name and info.name != info.symbol, info
        assert Decimal("1") <= info.base_price <= Decimal("5000"), info
        assert info.base_price == info.base_price.quantize(Decimal("0.01")), info
        assert 0.1 <= info.volatility <= 1.0, info


def test_volatility_differs_by_kind_of_company() -> None:
    vol = {info.symbol: info.volatility for info in UNIVERSE}
    utilities = [vol[s] for s in ("DUK", "SO", "AEP", "XEL", "NEE")]
    speculative_tech = [vol[s] for s in ("PLTR", "COIN", "RIVN", "SNAP", "SOFI")]
    assert max(utilities) < min(speculative_tech)
    assert len(set(vol.values())) > 20


def test_count_takes_the_first_n() -> None:
    assert select_symbols("50") == list(UNIVERSE[:50])
    assert [s.symbol for s in select_symbols(" 3 ")] == ["AAPL", "MSFT", "NVDA"]
    assert select_symbols(str(len(UNIVERSE))) == list(UNIVERSE)


def test_list_is_case_insensitive_ordered_and_deduplicated() -> None:
    chosen = select_symbols("msft, AAPL ,brk.b,,Msft,")
    assert [s.symbol for s in chosen] == ["MSFT", "AAPL", "BRK.B"]
    assert chosen[1].name == "Apple Inc."


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0", r"between 1 and \d+.*got 0"),
        ("-5", r"between 1 and \d+.*got -5"),
        ("10000", r"between 1 and \d+.*got 10000"),
        ("AAPL,FOOBAR", r"unknown ticker FOOBAR:"),
        ("nope, AAPL, zzz", r"unknown tickers NOPE, ZZZ:"),
        ("", r"no symbols"),
        (" , ,", r"no symbols"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select_symbols(spec)


def test_symbol_info_lookup() -> None:
    info = symbol_info(" aapl ")
    assert info is not None and info.symbol == "AAPL"
    assert symbol_info("ZZZZ") is None


@pytest.mark.parametrize(
    ("open_", "last", "change", "change_pct"),
    [
        ("100.00", "101.50", "1.50", "1.50"),
        ("3.00", "3.01", "0.01", "0.33"),
        ("200.00", "199.99", "-0.01", "-0.01"),  # -0.005 % rounds half away from zero
        ("80.00", "80.00", "0.00", "0.00"),
    ],
)
def test_change_is_last_minus_open(open_: str, last: str, change: str, change_pct: str) -> None:
    quote = make_quote(
        "X",
        bid=Decimal(last) - Decimal("0.01"),
        ask=Decimal(last) + 1,
        last=Decimal(last),
        open=Decimal(open_),
        seq=3,
        ts=5,
    )
    assert quote.change == Decimal(change)
    assert quote.change_pct == Decimal(change_pct)
    assert str(quote.change_pct) == change_pct  # two places on the wire
