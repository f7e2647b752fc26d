"""The REST polling fallback (Chromium): real time switched off by the service
(REALTIME_ENABLED=false, so GET /api/config says `realtimeEnabled: false`). The dashboard says
"Polling" and still shows the portfolio, quotes and trades, refreshed every ~2 s, with the same
toasts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.e2e.conftest import Account, ChromiumSession, ConsoleLog
from tests.e2e.pages import WAIT_MS, PlaywrightDashboard
from tests.harness.process import ServiceProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service_env() -> dict[str, str]:
    return {"REALTIME_ENABLED": "false"}


@pytest.fixture
def dash(chromium: ChromiumSession, service: ServiceProcess) -> Iterator[PlaywrightDashboard]:
    ctx: BrowserContext = chromium.browser.new_context(
        base_url=service.url, viewport={"width": 1280, "height": 900}
    )
    ctx.set_default_timeout(WAIT_MS)
    try:
        yield PlaywrightDashboard(ctx.new_page(), ConsoleLog())
    finally:
        ctx.close()


def _login_polling(dash: PlaywrightDashboard, account: Account) -> None:
    dash.page.goto("/login")
    dash.page.get_by_label("Username").fill(account.username)
    dash.page.get_by_label("Password").fill(account.password)
    dash.page.get_by_role("button", name="Sign in").click()
    dash.wait_state("polling")


def test_polling_shows_data_and_says_polling(dash: PlaywrightDashboard, account: Account) -> None:
    account.set_watchlist(["AAPL", "MSFT", "NVDA"])
    _login_polling(dash, account)
    expect(dash.state_label()).to_have_text("Polling")
    assert dash.wait_portfolio_loaded() == "$100,000.00"
    expect(dash.page.get_by_test_id("portfolio").get_by_text("Polling", exact=True)).to_be_visible()
    row = dash.page.locator('[data-testid="watchlist"] tr[data-symbol="AAPL"]')
    expect(row.locator('[data-field="last"]')).to_have_text(re.compile(r"^[\d,]+\.\d\d$"))
    seq = row.get_attribute("data-seq")
    expect(row).not_to_have_attribute("data-seq", seq or "", timeout=WAIT_MS)  # the next poll
    dash.console.assert_clean()


def test_polling_picks_up_trades_made_elsewhere_with_a_toast(
    dash: PlaywrightDashboard, account: Account
) -> None:
    _login_polling(dash, account)
    dash.wait_portfolio_loaded()
    expect(dash.page.get_by_test_id("recent-trades").get_by_text("No trades yet.")).to_be_visible()
    account.place_order("TSLA", "buy", 3)  # another device
    expect(dash.toasts("success").filter(has_text="Bought 3 TSLA")).to_be_visible()
    expect(dash.position_row("TSLA").locator('[data-field="quantity"]')).to_have_text("3")
    dash.console.assert_clean()


def test_orders_work_while_polling(dash: PlaywrightDashboard, account: Account) -> None:
    _login_polling(dash, account)
    dash.wait_portfolio_loaded()
    dash.fill_order("AAPL", "buy", 2)
    dash.submit_order("AAPL", "buy")
    expect(dash.order_result()).to_have_attribute("data-order-status", "filled")
    expect(dash.toasts("success").filter(has_text="Bought 2 AAPL")).to_be_visible()
    expect(dash.position_row("AAPL")).to_be_visible()

    dash.fill_order("AAPL", "buy", 900_000)
    dash.submit_order("AAPL", "buy")
    error = dash.toasts("error")
    expect(error).to_contain_text("Insufficient cash")
    expect(dash.toasts("success")).to_have_count(0, timeout=9000)
    expect(error).to_be_visible()  # still there after the success toast left
    dash.console.assert_clean()
