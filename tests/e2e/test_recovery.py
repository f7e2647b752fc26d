"""No lost fills, in Chromium: the dashboard's socket drops while orders fill elsewhere.

- Back within the recovery window on the same instance: socket.io's connection-state recovery.
  The indicator says "Live" with a "recovered" note, each missed fill is toasted once, and no
  "while you were away" line is needed.
- Back after the instance restarted (its recovery state gone): a new socket, re-synced from
  snapshots, and the "2 fills while you were away" line lists what happened meanwhile.

The socket is dropped and held off with a WebSocket route (as a proxy would), so REST keeps
working and the orders are placed meanwhile over the API, as from another device.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, WebSocketRoute, expect

from tests.e2e.conftest import Account, ChromiumSession, ConsoleLog
from tests.e2e.pages import WAIT_MS, PlaywrightDashboard
from tests.harness.process import ServiceProcess

pytestmark = pytest.mark.e2e

SOCKET_URL = re.compile(r"/socket\.io/")


@pytest.fixture
def dash(chromium: ChromiumSession, service: ServiceProcess) -> Iterator[PlaywrightDashboard]:
    ctx: BrowserContext = chromium.browser.new_context(
        base_url=service.url, viewport={"width": 1440, "height": 900}
    )
    ctx.set_default_timeout(WAIT_MS)
    try:
        yield PlaywrightDashboard(ctx.new_page(), ConsoleLog())
    finally:
        ctx.close()


class SocketGate:
    """Routes the page's WebSockets to the server; `drop()` closes them and refuses new ones
    (a frame that is not Engine.IO, then the close) until `reopen()`."""

    def __init__(self, page: Page) -> None:
        self.routes: list[WebSocketRoute] = []
        self.refusing = False
        page.route_web_socket(SOCKET_URL, self._route)

    def _route(self, ws: WebSocketRoute) -> None:
        if self.refusing:
            ws.send("x")
            ws.close()
            return
        self.routes.append(ws)
        ws.connect_to_server()

    def drop(self) -> None:
        self.refusing = True
        for ws in self.routes:
            ws.close()
        self.routes.clear()

    def reopen(self) -> None:
        self.refusing = False


def test_a_recovered_socket_toasts_each_missed_fill_once_and_says_recovered(
    dash: PlaywrightDashboard, account: Account
) -> None:
    gate = SocketGate(dash.page)
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    conn = dash.page.locator("[data-connection-state]")
    expect(conn).not_to_have_attribute("data-recovered", "true")

    gate.drop()
    dash.wait_state("reconnecting")
    account.place_order("AAPL", "buy", 1)
    account.place_order("MSFT", "buy", 2)

    gate.reopen()
    dash.wait_state("live", timeout=30_000)
    expect(conn).to_have_attribute("data-recovered", "true")
    expect(dash.page.get_by_test_id("conn-recovered")).to_have_text("recovered")
    expect(dash.state_label()).to_have_text("Live")
    for title in ("Bought 1 AAPL", "Bought 2 MSFT"):
        expect(dash.toasts("success").filter(has_text=title)).to_have_count(1)
    expect(dash.position_row("MSFT").locator('[data-field="quantity"]')).to_have_text("2")
    expect(dash.page.get_by_test_id("away-notice")).to_have_count(0)
    dash.console.assert_clean(r"WebSocket connection to .* failed", r"Invalid frame header")


def test_after_a_restart_the_dashboard_says_what_filled_while_it_was_away(
    dash: PlaywrightDashboard, account: Account, service: ServiceProcess
) -> None:
    gate = SocketGate(dash.page)
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()

    gate.drop()
    dash.wait_state("reconnecting")
    account.place_order("NVDA", "buy", 1)
    account.place_order("AMZN", "buy", 3)
    service.restart()  # the instance's recovery state is gone with the process

    gate.reopen()
    dash.wait_state("live", timeout=30_000)
    notice = dash.page.get_by_test_id("away-notice")
    expect(notice.locator('[data-field="away-summary"]')).to_have_text(
        "2 fills while you were away"
    )
    expect(notice.get_by_role("link", name=re.compile(r"^Bought 1 NVDA @"))).to_be_visible()
    expect(notice.get_by_role("link", name=re.compile(r"^Bought 3 AMZN @"))).to_be_visible()
    expect(dash.page.locator("[data-connection-state]")).not_to_have_attribute(
        "data-recovered", "true"
    )
    expect(dash.position_row("AMZN").locator('[data-field="quantity"]')).to_have_text("3")

    notice.get_by_role("button", name="Dismiss").click()
    expect(notice).to_have_count(0)
    dash.console.assert_clean(
        r"WebSocket connection to .* failed", r"Invalid frame header", r"ERR_CONNECTION_REFUSED"
    )
