"""The dashboard in Chromium (Playwright) against the real service: desktop and phone.

Every scenario a user would notice: signing in and seeing "Live", orders and their toasts, the
watchlist ticking, sessions that end, two tabs, a dropped network, a restarted server, a slow
network, rate limiting, and no console errors along the way.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Route, WebSocketRoute, expect

from tests.e2e.conftest import (
    SCREENSHOTS,
    Account,
    ChromiumSession,
    ConsoleLog,
    flood_watchlist_subscriptions,
)
from tests.e2e.pages import DOWN_COLOUR, UP_COLOUR, WAIT_MS, PlaywrightDashboard
from tests.harness.process import ServiceProcess

pytestmark = pytest.mark.e2e

DESKTOP = {"viewport": {"width": 1440, "height": 900}}
SOCKET_URL = re.compile(r"/socket\.io/")
WATCHED = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "TSLA", "META", "JPM"]


@pytest.fixture
def context(chromium: ChromiumSession, service: ServiceProcess) -> Iterator[BrowserContext]:
    ctx = chromium.browser.new_context(base_url=service.url, **DESKTOP)
    ctx.set_default_timeout(WAIT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def dash(context: BrowserContext, console: ConsoleLog) -> PlaywrightDashboard:
    return PlaywrightDashboard(context.new_page(), console)


def test_login_live_reload_and_logout(dash: PlaywrightDashboard, account: Account) -> None:
    dash.page.goto("/")
    expect(dash.page).to_have_url(re.compile(r"/login$"))
    dash.login(account.username, account.password)
    expect(dash.state_label()).to_have_text("Live")
    assert dash.wait_portfolio_loaded() == "$100,000.00"
    expect(dash.page.get_by_test_id("portfolio").get_by_text("Live", exact=True)).to_be_visible()

    dash.page.reload()
    dash.wait_state("live")
    expect(dash.page).to_have_url(re.compile(r"/$"))

    token = next(c["value"] for c in dash.page.context.cookies() if c["name"] == "tw_session")
    dash.page.get_by_role("button", name="Log out").click()
    expect(dash.page).to_have_url(re.compile(r"/login$"))
    dash.page.goto("/")
    expect(dash.page).to_have_url(re.compile(r"/login$"))
    with httpx.Client(
        base_url=account.base_url, cookies={"tw_session": token}, trust_env=False
    ) as old:
        assert old.get("/api/me").status_code == 401  # the session ended on the server too
    dash.console.assert_clean()


def test_market_order_toast_within_a_second_and_portfolio_updates_live(
    dash: PlaywrightDashboard, account: Account
) -> None:
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    dash.page.evaluate("window.__sameDocument = true")

    dash.fill_order("AAPL", "buy", 3)
    started = time.monotonic()
    dash.submit_order("AAPL", "buy")
    toast = dash.toasts("success").filter(has_text=re.compile(r"Bought 3 AAPL @"))
    expect(toast).to_be_visible(timeout=1000)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"success toast after {elapsed:.3f}s"

    expect(dash.order_result()).to_have_attribute("data-order-status", "filled")
    expect(dash.stat("cash")).not_to_have_text("$100,000.00")
    expect(dash.position_row("AAPL").locator('[data-field="quantity"]')).to_have_text("3")
    expect(dash.page.get_by_test_id("recent-trades").locator("tr[data-trade-id]")).to_have_count(1)
    assert dash.page.evaluate("window.__sameDocument") is True, "the page reloaded"
    dash.console.assert_clean()


def test_rejected_order_error_toast_stays_until_dismissed(
    dash: PlaywrightDashboard, account: Account
) -> None:
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    dash.fill_order("AAPL", "buy", 1)
    dash.submit_order("AAPL", "buy")
    success = dash.toasts("success")
    expect(success).to_have_count(1)

    dash.fill_order("MSFT", "buy", 900_000)
    dash.submit_order("MSFT", "buy")
    error = dash.toasts("error")
    expect(error).to_have_count(1)
    expect(error).to_contain_text("Order rejected")
    expect(error).to_contain_text("Insufficient cash")
    expect(dash.order_result()).to_have_attribute("data-order-status", "rejected")
    expect(dash.order_result()).to_contain_text("Insufficient cash")

    # the success toast leaves after its 5 s; the error toast is still there after that
    expect(success).to_have_count(0, timeout=9000)
    expect(error).to_be_visible()
    error.get_by_role("button", name=re.compile("close", re.I)).click()
    expect(error).to_have_count(0)
    dash.console.assert_clean()


def test_view_trade_opens_that_trade_from_a_toast_below_the_header(
    dash: PlaywrightDashboard, account: Account
) -> None:
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    dash.fill_order("MSFT", "buy", 2)
    dash.submit_order("MSFT", "buy")
    toast = dash.toasts("success")
    dash.expect_below_header(toast)
    toast.get_by_role("button", name="View Trade").click()
    first = newest_trade(account)
    expect(dash.page).to_have_url(re.compile(rf"/trades/{first['tradeId']}$"))
    page = dash.page.get_by_test_id("trade-page")
    expect(dash.page.get_by_role("heading", name=f"Trade #{first['tradeId']}")).to_be_visible()
    expect(page.locator("[data-trade-id]")).to_have_attribute(
        "data-trade-id", str(first["tradeId"])
    )
    expect(page).to_contain_text("Bought 2 MSFT")

    # On that page, a fill made elsewhere: its "View Trade" shows the new trade at once, from
    # the push (its REST answer is held back meanwhile), never the one shown before
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    dash.page.route(re.compile(r"/api/trades/\d+$"), hold)
    account.place_order("AAPL", "buy", 1)
    second = newest_trade(account)
    toast = dash.toasts("success").filter(has_text="Bought 1 AAPL")
    dash.expect_below_header(toast)
    toast.get_by_role("button", name="View Trade").click()
    expect(dash.page).to_have_url(re.compile(rf"/trades/{second['tradeId']}$"))
    expect(page.locator("[data-trade-id]")).to_have_attribute(
        "data-trade-id", str(second["tradeId"])
    )
    expect(page).to_contain_text("Bought 1 AAPL")
    expect(page).not_to_contain_text("MSFT")
    assert held, "the trade page did not ask the API for the trade"
    for route in held:
        route.continue_()
    expect(page).to_contain_text(f"#{second['orderId']}")
    dash.wait_state("live")  # navigation inside the app keeps the socket
    dash.console.assert_clean()


def newest_trade(account: Account) -> dict[str, Any]:
    trades: list[dict[str, Any]] = account.client.get("/api/trades?limit=1").json()
    return trades[0]


def test_watchlist_prices_tick_with_up_and_down_colours(
    dash: PlaywrightDashboard, account: Account
) -> None:
    account.set_watchlist(WATCHED)
    dash.login(account.username, account.password)
    rows = dash.page.get_by_test_id("watchlist").locator("tbody tr[data-symbol]")
    expect(rows.first).to_be_visible()
    up = dash.page.locator('[data-testid="watchlist"] tr[data-tick="up"] [data-field="last"]').first
    down = dash.page.locator(
        '[data-testid="watchlist"] tr[data-tick="down"] [data-field="last"]'
    ).first
    expect(up).to_be_visible()
    expect(down).to_be_visible()
    expect(up).to_have_css("color", UP_COLOUR)
    expect(down).to_have_css("color", DOWN_COLOUR)

    # prices keep moving: a row's sequence number advances
    symbol = rows.first.get_attribute("data-symbol")
    seq = int(rows.first.get_attribute("data-seq") or 0)
    expect(
        dash.page.locator(f'[data-testid="watchlist"] tr[data-symbol="{symbol}"]')
    ).not_to_have_attribute("data-seq", str(seq), timeout=WAIT_MS)
    dash.console.assert_clean()


def test_watchlist_add_and_remove_persist(dash: PlaywrightDashboard, account: Account) -> None:
    account.set_watchlist(["AAPL"])
    dash.login(account.username, account.password)
    wl = dash.page.get_by_test_id("watchlist")
    wl.get_by_label("Add symbol to watchlist").fill("NVDA")
    wl.get_by_role("button", name="Add").click()
    expect(wl.locator('tr[data-symbol="NVDA"] [data-field="last"]')).to_have_text(
        re.compile(r"^[\d,]+\.\d\d$")
    )
    wl.get_by_role("button", name="Remove AAPL from watchlist").click()
    expect(wl.locator('tr[data-symbol="AAPL"]')).to_have_count(0)
    assert account.client.get("/api/watchlist").json() == {"symbols": ["NVDA"]}
    dash.page.reload()
    expect(wl.locator("tbody tr[data-symbol]")).to_have_count(1)
    dash.console.assert_clean()


def test_limit_order_listed_and_cancelled(dash: PlaywrightDashboard, account: Account) -> None:
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    dash.fill_order("AAPL", "buy", 5, limit="1.00")
    dash.submit_order("AAPL", "buy")
    expect(dash.order_result()).to_have_attribute("data-order-status", "open")
    orders = dash.page.get_by_test_id("open-orders")
    row = orders.locator("tbody tr[data-order-id]")
    expect(row).to_have_count(1)
    row.get_by_role("button", name=re.compile(r"^Cancel order")).click()
    expect(row).to_have_count(0)
    expect(orders.get_by_text("No open orders.")).to_be_visible()
    dash.console.assert_clean()


def test_trade_history_lists_trades_newest_first(
    dash: PlaywrightDashboard, account: Account
) -> None:
    account.place_order("AAPL", "buy", 1)
    account.place_order("MSFT", "buy", 1)
    dash.login(account.username, account.password)
    dash.page.get_by_role("link", name="Trades", exact=True).click()
    rows = dash.page.get_by_role("table", name="Trades").locator("tbody tr[data-trade-id]")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("MSFT")
    expect(rows.nth(1)).to_contain_text("AAPL")
    expect(rows.nth(1).get_by_role("link", name="AAPL")).to_have_attribute("href", "/symbols/AAPL")
    rows.nth(1).locator('a[href^="/trades/"]').click()  # the time links to the trade
    expect(dash.page.get_by_test_id("trade-page")).to_contain_text("Bought 1 AAPL")
    dash.console.assert_clean()


def test_bad_session_lands_on_login(
    context: BrowserContext, dash: PlaywrightDashboard, service: ServiceProcess
) -> None:
    context.add_cookies([{"name": "tw_session", "value": "x" * 43, "url": service.url}])
    context.add_init_script(
        "localStorage.setItem('tradewire.sessionId', 'not-a-real-session-id-at-all-xxxxxxx')"
    )
    dash.page.goto("/trades")
    expect(dash.page).to_have_url(re.compile(r"/login$"))
    expect(dash.page.get_by_role("heading", name="Sign in")).to_be_visible()
    # a session id an earlier version kept in localStorage is removed, and nothing replaces it
    assert dash.page.evaluate("localStorage.getItem('tradewire.sessionId')") is None
    assert dash.page.evaluate("localStorage.getItem('tradewire.signedIn')") is None
    dash.console.assert_clean(r"401 \(Unauthorized\)")


def test_session_revoked_while_live_lands_on_login(
    context: BrowserContext, dash: PlaywrightDashboard, account: Account, service: ServiceProcess
) -> None:
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    [session_id] = [c["value"] for c in context.cookies(service.url) if c["name"] == "tw_session"]
    # live on the HttpOnly cookie alone: no script-readable place holds the session id
    readable = dash.page.evaluate(
        "JSON.stringify([Object.values(localStorage), Object.values(sessionStorage),"
        " document.cookie])"
    )
    assert session_id not in readable, readable
    # the session ends elsewhere (signed out on another device, or expired): the server drops
    # its sockets; the dashboard's reconnect is refused and the user lands on /login
    with httpx.Client(
        base_url=service.url,
        headers={"Authorization": f"Bearer {session_id}"},
        trust_env=False,
    ) as other:
        assert other.post("/api/auth/logout").status_code == 204
    expect(dash.page).to_have_url(re.compile(r"/login$"))
    expect(dash.page.get_by_test_id("auth-notice")).to_contain_text("session has expired")
    dash.console.assert_clean(r"401 \(Unauthorized\)")


def test_two_tabs_of_one_user_both_update(
    context: BrowserContext, account: Account, console: ConsoleLog
) -> None:
    first = PlaywrightDashboard(context.new_page(), console)
    first.login(account.username, account.password)
    second = PlaywrightDashboard(context.new_page(), console)
    second.page.goto("/")  # same browser: same cookie
    second.wait_state("live")
    second.wait_portfolio_loaded()

    first.fill_order("NVDA", "buy", 4)
    first.submit_order("NVDA", "buy")
    for tab in (first, second):
        expect(tab.toasts("success").filter(has_text="Bought 4 NVDA")).to_be_visible()
        expect(tab.position_row("NVDA").locator('[data-field="quantity"]')).to_have_text("4")
    console.assert_clean()


def test_network_drop_reconnects_and_resyncs(
    context: BrowserContext, dash: PlaywrightDashboard, account: Account
) -> None:
    """Offline and the socket closed -> "Offline"; the network back but the socket still
    refused -> "Reconnecting (attempt N)"; then "Live", with what happened meanwhile re-synced."""
    routes: list[WebSocketRoute] = []
    refusing = {"on": False}

    def proxy(ws: WebSocketRoute) -> None:
        if refusing["on"]:
            _refuse(ws)
            return
        routes.append(ws)
        ws.connect_to_server()

    dash.page.route_web_socket(SOCKET_URL, proxy)
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    dash.record_states()

    refusing["on"] = True
    context.set_offline(True)  # REST fails...
    for ws in routes:
        ws.close()  # ...and, as set_offline leaves an open WebSocket alone, the socket drops
    dash.wait_state("offline")
    expect(dash.state_label()).to_have_text("Offline")
    expect(dash.page.get_by_test_id("portfolio")).to_have_attribute("data-stale", "true")
    expect(dash.stat("cash")).to_have_text("$100,000.00")  # the data stays while stale

    account.place_order("TSLA", "buy", 2)  # meanwhile, elsewhere: an order fills

    context.set_offline(False)  # the network is back, the socket still refused
    dash.wait_state("reconnecting")
    expect(dash.state_label()).to_have_text(re.compile(r"^Reconnecting \(attempt \d+\)$"))

    refusing["on"] = False
    dash.wait_state("live", timeout=30_000)
    expect(dash.position_row("TSLA").locator('[data-field="quantity"]')).to_have_text("2")
    expect(dash.stat("cash")).not_to_have_text("$100,000.00")
    expect(dash.page.get_by_test_id("recent-trades").locator("tr[data-trade-id]")).to_have_count(1)
    assert {"offline", "reconnecting", "live"} <= set(dash.states_seen())
    dash.console.assert_clean()


def _refuse(ws: WebSocketRoute) -> None:
    """A WebSocket broken on the way, as by a proxy that mangles it: the client gets a frame that
    is not Engine.IO, then the close, and counts a failed connect at once."""
    ws.send("x")
    ws.close()


def test_unreachable_socket_falls_back_to_polling(
    dash: PlaywrightDashboard, account: Account
) -> None:
    """The socket never connects: after 5 failed connects the dashboard polls the REST API and
    says "Polling"; trades made elsewhere still show up, with their toast."""
    dash.page.route_web_socket(SOCKET_URL, _refuse)
    dash.page.goto("/login")
    dash.page.get_by_label("Username").fill(account.username)
    dash.page.get_by_label("Password").fill(account.password)
    dash.page.get_by_role("button", name="Sign in").click()
    dash.wait_state("connecting")
    dash.record_states()
    dash.wait_state("polling", timeout=45_000)  # back-off 1, 2, 4, 5 s (randomized)
    expect(dash.state_label()).to_have_text("Polling")
    assert int(dash.state().get_attribute("data-attempt") or 0) >= 4
    assert dash.wait_portfolio_loaded() == "$100,000.00"
    account.place_order("GOOGL", "buy", 1)
    expect(dash.toasts("success").filter(has_text="Bought 1 GOOGL")).to_be_visible()
    expect(dash.position_row("GOOGL")).to_be_visible()
    assert dash.states_seen() == ["connecting", "polling"]
    dash.console.assert_clean()


def test_server_restart_reconnects_and_resyncs(
    dash: PlaywrightDashboard, account: Account, service: ServiceProcess
) -> None:
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    dash.record_states()
    service.restart()  # graceful: server:shutdown, then the server drops every socket
    dash.wait_state("live", timeout=20_000)
    assert "reconnecting" in dash.states_seen()
    # the new process pushes and answers as before
    account.place_order("AMZN", "buy", 1)
    expect(dash.toasts("success").filter(has_text="Bought 1 AMZN")).to_be_visible()
    expect(dash.position_row("AMZN")).to_be_visible()
    dash.console.assert_clean(r"WebSocket connection to .* failed", r"ERR_CONNECTION_REFUSED")


def test_slow_network_still_works(
    context: BrowserContext, dash: PlaywrightDashboard, account: Account
) -> None:
    cdp = context.new_cdp_session(dash.page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 400,
            "downloadThroughput": 64 * 1024,
            "uploadThroughput": 32 * 1024,
        },
    )
    dash.page.goto("/login")
    dash.page.get_by_label("Username").fill(account.username)
    dash.page.get_by_label("Password").fill(account.password)
    dash.page.get_by_role("button", name="Sign in").click()
    dash.wait_state("live", timeout=30_000)
    dash.wait_portfolio_loaded()
    dash.fill_order("AAPL", "buy", 1)
    dash.submit_order("AAPL", "buy")
    expect(dash.toasts("success")).to_be_visible(timeout=15_000)
    expect(dash.position_row("AAPL")).to_be_visible(timeout=15_000)
    dash.console.assert_clean()


def test_rate_limiting_is_shown(
    dash: PlaywrightDashboard, account: Account, service: ServiceProcess
) -> None:
    account.set_watchlist(["AAPL"])
    dash.login(account.username, account.password)
    flood_watchlist_subscriptions(service, account.session_id, 70)  # the limit is 60/minute
    wl = dash.page.get_by_test_id("watchlist")
    wl.get_by_label("Add symbol to watchlist").fill("MSFT")
    wl.get_by_role("button", name="Add").click()
    toast = dash.toasts("warning")
    expect(toast).to_have_text(
        re.compile(r"Slow down: too many watchlist requests; retry in \d+ s")
    )
    dash.console.assert_clean()


def _settled_screenshot(dash: PlaywrightDashboard, name: str) -> None:
    """Top of the page, quotes ticking, every animation but the tick flashes finished."""
    expect(dash.page.locator('[data-testid="watchlist"] tr[data-tick="up"]').first).to_be_visible()
    expect(
        dash.page.locator('[data-testid="watchlist"] tr[data-tick="down"]').first
    ).to_be_visible()
    dash.page.evaluate("window.scrollTo(0, 0)")
    dash.page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dash.page.screenshot(path=str(SCREENSHOTS / name))


@pytest.mark.parametrize(
    ("device", "screenshot"),
    [(None, "dashboard-desktop.png"), ("iPhone 13", "dashboard-phone.png")],
    ids=["desktop", "phone"],
)
def test_screenshots(
    chromium: ChromiumSession,
    service: ServiceProcess,
    account: Account,
    device: str | None,
    screenshot: str,
) -> None:
    """docs/screenshots/: the dashboard of a user with a few positions, prices ticking."""
    account.set_watchlist(WATCHED)
    account.place_order("AAPL", "buy", 25)
    account.place_order("NVDA", "buy", 40)
    account.place_order("MSFT", "buy", 10)
    ctx = chromium.browser.new_context(
        base_url=service.url, **(chromium.devices[device] if device else DESKTOP)
    )
    ctx.set_default_timeout(WAIT_MS)
    console = ConsoleLog()
    try:
        dash = PlaywrightDashboard(ctx.new_page(), console)
        dash.login(account.username, account.password)
        expect(
            dash.page.get_by_test_id("recent-trades").locator("tr[data-trade-id]")
        ).to_have_count(3)
        _settled_screenshot(dash, screenshot)
        console.assert_clean()
    finally:
        ctx.close()


@pytest.mark.parametrize("device", ["iPhone 13", "Pixel 7"])
def test_phone(
    chromium: ChromiumSession, service: ServiceProcess, account: Account, device: str
) -> None:
    ctx = chromium.browser.new_context(base_url=service.url, **chromium.devices[device])
    ctx.set_default_timeout(WAIT_MS)
    console = ConsoleLog()
    account.set_watchlist(WATCHED)
    try:
        dash = PlaywrightDashboard(ctx.new_page(), console)
        dash.login(account.username, account.password)
        dash.wait_portfolio_loaded()
        expect(dash.state()).to_be_in_viewport()
        dash.fill_order("META", "buy", 1)
        dash.ticket().get_by_role("button", name="Buy META").tap()
        expect(dash.toasts("success")).to_be_visible()
        dash.expect_below_header(dash.toasts("success"))
        expect(dash.position_row("META")).to_be_visible()
        expect(
            dash.page.locator(
                '[data-testid="watchlist"] tr:is([data-tick="up"], [data-tick="down"])'
            ).first
        ).to_be_visible()

        width: dict[str, Any] = dash.page.evaluate(
            "({ scroll: document.documentElement.scrollWidth, view: window.innerWidth })"
        )
        assert width["scroll"] <= width["view"], f"horizontal overflow on {device}: {width}"
        # touch target: the submit button is at least 40 px high
        for name in ("Buy META",):
            box = dash.ticket().get_by_role("button", name=name).bounding_box()
            assert box is not None and box["height"] >= 40
        console.assert_clean()
    finally:
        ctx.close()


DEMO = ("demo", "demo-password")  # seeded with SEED_DEMO; role "admin"


def test_ops_page_shows_live_figures_to_an_admin(
    dash: PlaywrightDashboard, chromium: ChromiumSession, service: ServiceProcess
) -> None:
    dash.login(*DEMO)
    dash.page.get_by_role("navigation", name="Main").get_by_role("link", name="Ops").click()
    expect(dash.page).to_have_url(re.compile(r"/ops$"))
    ops = dash.page.get_by_test_id("ops")
    expect(ops.locator('[data-field="connections"]'), "a connection count >= 1").to_have_text(
        re.compile(r"^[1-9][\d,]*$")
    )
    expect(ops.locator('[data-field="instance"]'), "the instance name").not_to_have_text("…")
    rate = ops.locator('[data-field="messagesPerSecond"]')
    expect(rate, "a messages/s figure").to_have_text(re.compile(r"^[\d,]+\.\d$"))
    first = rate.inner_text()
    # ops:stats comes every second and the demo's watchlist ticks: the figure moves on its own
    expect(rate, f"messages/s to change from {first}").not_to_have_text(first, timeout=15_000)
    expect(ops.locator('[data-field="updated"]')).to_have_text(re.compile(r"^updated \S"))
    dash.console.assert_clean()

    # phone width: the same figures, nothing wider than the screen
    ctx = chromium.browser.new_context(base_url=service.url, **chromium.devices["iPhone 13"])
    ctx.set_default_timeout(WAIT_MS)
    console = ConsoleLog()
    try:
        phone = PlaywrightDashboard(ctx.new_page(), console)
        phone.login(*DEMO)
        phone.page.goto("/ops")
        expect(phone.page.get_by_test_id("ops").locator('[data-field="connections"]')).to_have_text(
            re.compile(r"^[1-9][\d,]*$")
        )
        width: dict[str, Any] = phone.page.evaluate(
            "({ scroll: document.documentElement.scrollWidth, view: window.innerWidth })"
        )
        assert width["scroll"] <= width["view"], f"horizontal overflow on the ops page: {width}"
        console.assert_clean()
    finally:
        ctx.close()


def test_ops_page_is_for_admins_only(dash: PlaywrightDashboard, account: Account) -> None:
    dash.login(account.username, account.password)
    expect(dash.page.get_by_role("link", name="Ops")).to_have_count(0)
    dash.page.goto("/ops")
    dash.wait_state("live")
    expect(dash.page.get_by_test_id("ops-forbidden")).to_contain_text("administrators only")
    expect(dash.page.get_by_test_id("ops")).to_have_count(0)
    dash.console.assert_clean()
