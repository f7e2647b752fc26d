"""The charts in Chromium (Playwright) against the real service. The symbol page, reached from a
watchlist row: its candle chart loads the service's bars, moves with the live quotes, marks the
user's fills, and after a dropped socket reloads its bars with no gap and no bar twice. The
dashboard: the watchlist's sparklines move, the value chart is seeded and marked live."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, WebSocketRoute, expect

from tests.e2e.conftest import Account, ChromiumSession, ConsoleLog
from tests.e2e.pages import WAIT_MS, PlaywrightDashboard, chart_shows_the_service_bars
from tests.harness.process import ServiceProcess
from tests.harness.waiting import wait_until_sync

pytestmark = pytest.mark.e2e

SOCKET_URL = re.compile(r"/socket\.io/")


@pytest.fixture
def context(chromium: ChromiumSession, service: ServiceProcess) -> Iterator[BrowserContext]:
    ctx = chromium.browser.new_context(
        base_url=service.url, viewport={"width": 1440, "height": 900}
    )
    ctx.set_default_timeout(WAIT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def dash(context: BrowserContext) -> PlaywrightDashboard:
    return PlaywrightDashboard(context.new_page(), ConsoleLog())


def test_symbol_page_chart_loads_ticks_marks_fills_and_reloads_after_a_drop(
    dash: PlaywrightDashboard, account: Account
) -> None:
    routes: list[WebSocketRoute] = []

    def proxy(ws: WebSocketRoute) -> None:
        routes.append(ws)
        ws.connect_to_server()

    dash.page.route_web_socket(SOCKET_URL, proxy)
    account.place_order("AAPL", "buy", 2)  # a fill before the page opens: from REST
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()

    # A new account watches AAPL; its row's sparkline links to the symbol page.
    row = dash.page.locator('[data-testid="watchlist"] tr[data-symbol="AAPL"]')
    expect(row.get_by_test_id("sparkline")).to_have_attribute("data-loaded", "true")
    row.get_by_role("link", name="AAPL chart").click()
    expect(dash.page).to_have_url(re.compile(r"/symbols/AAPL$"))

    chart = dash.page.get_by_test_id("candle-chart")
    expect(chart).to_have_attribute("data-loads", "1")
    expect(chart.locator("canvas").first).to_be_visible()  # lightweight-charts drew it
    wait_until_sync(
        lambda: chart_shows_the_service_bars(chart.get_attribute, account, "AAPL"),
        timeout=WAIT_MS / 1000,
        what="the chart to show the service's AAPL bars",
    )
    expect(chart).to_have_attribute("data-markers", "1")

    # Live: the newest candle closes at the price the header shows, and it moves.
    header_last = dash.page.get_by_test_id("symbol-quote").locator('[data-field="last"]')
    first_close = chart.get_attribute("data-last-close")
    expect(chart).not_to_have_attribute("data-last-close", first_close or "")
    wait_until_sync(
        lambda: (
            chart.get_attribute("data-last-close")
            == header_last.inner_text().replace(",", "").lstrip("$")
        ),
        timeout=WAIT_MS / 1000,
        what="the newest candle to close at the header's last price",
    )

    # A fill from the ticket beside the chart is marked at once (trade:executed).
    dash.fill_order("AAPL", "sell", 1)
    dash.submit_order("AAPL", "sell")
    expect(dash.order_result()).to_have_attribute("data-order-status", "filled")
    expect(chart).to_have_attribute("data-markers", "2")

    # The socket drops and comes back: the bars are loaded again and match the service.
    for ws in routes:
        ws.close()
    dash.wait_state("live", timeout=30_000)
    expect(chart).to_have_attribute("data-loads", "2")
    wait_until_sync(
        lambda: chart_shows_the_service_bars(chart.get_attribute, account, "AAPL"),
        timeout=WAIT_MS / 1000,
        what="the reloaded chart to show the service's AAPL bars, each once",
    )
    expect(chart).to_have_attribute("data-markers", "2")
    after_reload = chart.get_attribute("data-last-close") or ""
    expect(chart).not_to_have_attribute("data-last-close", after_reload)  # and it ticks on
    dash.console.assert_clean()


def test_unknown_symbol_page_says_so(dash: PlaywrightDashboard, account: Account) -> None:
    dash.login(account.username, account.password)
    dash.page.goto("/symbols/nope")
    expect(dash.page).to_have_url(re.compile(r"/symbols/NOPE$"))
    expect(dash.page.get_by_test_id("unknown-symbol")).to_contain_text("NOPE is not traded here.")
    dash.console.assert_clean()


def test_dashboard_sparklines_move_and_the_value_chart_is_seeded_and_live(
    dash: PlaywrightDashboard, account: Account
) -> None:
    account.place_order("NVDA", "buy", 10)  # a position, so the value moves with NVDA
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()

    spark = dash.page.locator('[data-testid="watchlist"] tr[data-symbol="NVDA"]').get_by_test_id(
        "sparkline"
    )
    expect(spark).to_have_attribute("data-loaded", "true")
    expect(spark.locator("polyline")).to_have_count(1)
    first = spark.get_attribute("data-last-close") or ""
    expect(spark).not_to_have_attribute("data-last-close", first)  # moved by the quotes

    value = dash.page.get_by_test_id("portfolio-chart").locator(".value-chart")
    expect(value).to_have_attribute("data-seeded", "true")
    expect(value.locator("canvas").first).to_be_visible()
    marked = value.get_attribute("data-last-value") or ""
    expect(value).not_to_have_attribute("data-last-value", marked)  # marked to NVDA's ticks

    dash.console.assert_clean()
