"""The dashboard in Firefox ESR and WebKitGTK (Safari's engine) through Selenium, against the
real service.

Both engines: signing in and reloading, orders and their toasts, the watchlist ticking, a bad
session, two tabs of one user both updating live, rate limiting shown to the user, a server
restart (reconnect and re-sync), and the symbol page's candle chart (live, fills marked, reloaded
after the restart).

Firefox only: the network drop. WebDriver BiDi takes the tab offline
(`emulation.setNetworkConditions`), which in Firefox also closes the open WebSocket (Chromium's
offline mode leaves it open, so its test closes the socket itself), and a BiDi network intercept
fails new Socket.IO handshakes for as long as the socket must stay refused.

WebKitGTK has no offline mode here: WebKitWebDriver speaks classic WebDriver only (a session
asking for BiDi is refused), has no command that takes the browser offline, throttles it or
intercepts a request, and the dashboard exposes its socket to no page script. Its only network
drop is the server restart. Neither engine has a slow network (BiDi's network conditions are
offline only).

Console errors: Firefox reports them over WebDriver BiDi; WebKitWebDriver has no log API, so a
hook installed after each page load records console.error, uncaught errors and unhandled
rejections (errors before the hook is installed are not seen there). Firefox logs each WebSocket
connect that fails ("can't establish a connection") as an error, which the tests that drop the
socket allow.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from selenium import webdriver
from selenium.webdriver.firefox.service import Service as FirefoxService
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.conftest import (
    FIREFOX,
    WEBKIT_BROWSER,
    WEBKIT_DRIVER,
    Account,
    ConsoleLog,
    flood_watchlist_subscriptions,
    geckodriver_path,
    require,
)
from tests.e2e.pages import (
    DOWN_COLOUR,
    UP_COLOUR,
    SeleniumDashboard,
    chart_shows_the_service_bars,
)
from tests.harness.process import ServiceProcess

pytestmark = [
    pytest.mark.e2e,
    # selenium's own WebKitGTK driver class still passes an argument it deprecated
    pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning:selenium"),
]

WATCHED = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "TSLA", "META", "JPM"]
SOCKET_URLS = "**/socket.io/**"  # a glob for selenium's BiDi request handler
# Firefox's console error for a WebSocket that could not connect (offline, or refused)
FIREFOX_SOCKET_REFUSED = r"can.t establish a connection to the server at ws://\S+/socket\.io/"

ERROR_HOOK_JS = """
if (!window.__twErrors) {
  window.__twErrors = [];
  const original = console.error.bind(console);
  const note = (text) => window.__twErrors.push(text);
  console.error = (...args) => { note(args.map(String).join(' ')); original(...args); };
  window.addEventListener('error', (e) => note('error: ' + e.message));
  window.addEventListener('unhandledrejection', (e) => note('unhandledrejection: ' + e.reason));
}
"""


class Engine:
    def __init__(self, name: str, driver: WebDriver, console: ConsoleLog) -> None:
        self.name = name
        self.driver = driver
        self.console = console


def _firefox(console: ConsoleLog) -> WebDriver:
    require(FIREFOX, "apt-get install -y firefox-esr")
    opts = webdriver.FirefoxOptions()
    opts.binary_location = FIREFOX
    opts.add_argument("-headless")
    opts.enable_bidi = True
    opts.set_preference("browser.shell.checkDefaultBrowser", False)
    opts.set_preference("app.update.enabled", False)
    opts.set_preference("devtools.jsonview.enabled", False)  # /healthz as a plain page
    driver = webdriver.Firefox(
        options=opts, service=FirefoxService(executable_path=geckodriver_path())
    )
    driver.set_window_size(1440, 900)
    driver.script.add_console_message_handler(
        lambda m: console.add(f"console.{m.level}: {m.text}") if m.level == "error" else None
    )
    driver.script.add_javascript_error_handler(lambda m: console.add(f"error: {m.text}"))
    return driver


def _webkit(display: str) -> WebDriver:
    require(WEBKIT_DRIVER, "apt-get install -y webkit2gtk-driver")
    os.environ["DISPLAY"] = display
    opts = webdriver.WebKitGTKOptions()
    opts.binary_location = WEBKIT_BROWSER
    opts.add_argument("--automation")
    driver = webdriver.WebKitGTK(
        options=opts, service=webdriver.WebKitGTKService(executable_path=WEBKIT_DRIVER)
    )
    driver.set_window_size(1440, 900)
    return driver


@pytest.fixture(scope="module", params=["firefox", "webkit"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """One browser per engine for the module; each test starts signed out with empty storage."""
    console = ConsoleLog()
    if request.param == "firefox":
        driver = _firefox(console)
    else:
        driver = _webkit(request.getfixturevalue("xvfb_display"))
    try:
        yield Engine(request.param, driver, console)
    finally:
        driver.quit()


class EngineDashboard(SeleniumDashboard):
    """SeleniumDashboard that installs the console hook where the driver has no log API."""

    def __init__(self, engine: Engine, base_url: str) -> None:
        super().__init__(engine.driver, base_url, engine.console)
        self.engine = engine

    def hook_console(self) -> None:
        if self.engine.name == "webkit":
            self.js(ERROR_HOOK_JS)

    def collect_console(self) -> None:
        if self.engine.name == "webkit":
            for text in self.js("return window.__twErrors || []"):
                self.console.add(text)
            self.js("window.__twErrors = []")

    def goto(self, path: str) -> None:
        self.collect_console()
        super().goto(path)
        self.hook_console()

    def reload(self) -> None:
        self.collect_console()
        self.driver.refresh()
        self.hook_console()

    def assert_console_clean(self, *allowed: str) -> None:
        self.collect_console()
        self.console.assert_clean(*allowed)


def _blank_slate(d: EngineDashboard) -> None:
    """On a same-origin page that is not the app (/healthz): no cookies, no stored session."""
    d.driver.get(d.base_url + "/healthz")
    d.driver.delete_all_cookies()
    d.js("localStorage.clear(); sessionStorage.clear();")


@pytest.fixture
def dash(engine: Engine, service: ServiceProcess) -> Iterator[EngineDashboard]:
    d = EngineDashboard(engine, service.url)
    _blank_slate(d)
    engine.console.errors.clear()
    yield d
    d.collect_console()
    _blank_slate(d)  # close the app, and its socket, before the next test
    engine.console.errors.clear()


def test_login_shows_live_and_survives_reload(dash: EngineDashboard, account: Account) -> None:
    dash.goto("/")
    dash.wait(lambda: dash.path() == "/login", "the login page")
    dash.login(account.username, account.password)
    assert dash.text("[data-connection-state] .conn-label") == "Live"
    assert dash.wait_portfolio_loaded() == "$100,000.00"
    dash.reload()
    dash.wait_state("live")
    assert dash.path() == "/"
    dash.assert_console_clean()


def test_market_order_toast_and_live_portfolio(dash: EngineDashboard, account: Account) -> None:
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    dash.js("window.__sameDocument = true")
    dash.place_market_order("AAPL", "buy", 3)
    dash.wait(
        lambda: any("Bought 3 AAPL" in t for t in dash.toast_texts("success")), "the success toast"
    )
    dash.wait(lambda: dash.cash() != "$100,000.00", "the cash to change")
    dash.wait(
        lambda: (
            dash.text('[data-testid="portfolio"] tr[data-symbol="AAPL"] [data-field="quantity"]')
            == "3"
        ),
        "the AAPL position",
    )
    assert dash.js("return window.__sameDocument") is True, "the page reloaded"
    dash.assert_console_clean()


def test_rejected_order_error_toast_stays(dash: EngineDashboard, account: Account) -> None:
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    dash.place_market_order("AAPL", "buy", 1)
    dash.wait(lambda: len(dash.toasts("success")) == 1, "the success toast")
    dash.place_market_order("MSFT", "buy", 900_000)
    dash.wait(lambda: len(dash.toasts("error")) == 1, "the error toast")
    assert "Insufficient cash" in dash.toast_texts("error")[0]
    # the success toast leaves after 5 s; the error toast stays
    dash.wait(lambda: len(dash.toasts("success")) == 0, "the success toast to leave", timeout=12)
    assert len(dash.toasts("error")) == 1
    dash.find('[data-sonner-toast][data-type="error"] [data-close-button]').click()
    dash.wait(lambda: len(dash.toasts("error")) == 0, "the dismissed error toast to leave")
    dash.assert_console_clean()


def test_view_trade_navigates(dash: EngineDashboard, account: Account) -> None:
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    dash.place_market_order("MSFT", "buy", 2)
    selector = '[data-sonner-toast][data-type="success"] [data-button]'
    dash.wait(lambda: dash.find(selector), "View Trade")
    dash.wait_still(selector)  # the toast slides in: click where it stays
    assert dash.text(selector) == "View Trade"

    def clicked_through() -> bool:
        # WebKitGTK's driver now and then reports a click on the toast that never reached
        # the page: click again while the toast is still there and the page has not moved
        if re.fullmatch(r"/trades/\d+", dash.path()):
            return True
        buttons = dash.finds(selector)
        if buttons:
            buttons[0].click()
        return bool(re.fullmatch(r"/trades/\d+", dash.path()))

    dash.wait(clicked_through, "the trade page URL")
    page = dash.wait(lambda: dash.find('[data-testid="trade-page"]'), "the trade page")
    dash.wait(lambda: "Bought 2 MSFT" in page.text, "the trade details")
    dash.assert_console_clean()


def test_watchlist_ticks_with_up_and_down_colours(dash: EngineDashboard, account: Account) -> None:
    account.set_watchlist(WATCHED)
    dash.login(account.username, account.password)

    def colour(tick: str) -> str | None:
        # one script finds the cell and reads its colour: between two WebDriver calls the row
        # can tick the other way and re-render, and its colour would then be the other tick's
        css = f'[data-testid="watchlist"] tr[data-tick="{tick}"] [data-field="last"]'
        return dash.js(
            "const cell = document.querySelector(arguments[0]);"
            "return cell ? getComputedStyle(cell).color : null;",
            css,
        )

    assert dash.wait(lambda: colour("up"), "an up-tick") == UP_COLOUR
    assert dash.wait(lambda: colour("down"), "a down-tick") == DOWN_COLOUR
    dash.assert_console_clean()


def test_bad_session_lands_on_login(dash: EngineDashboard) -> None:
    dash.js("localStorage.setItem('tradewire.sessionId', 'not-a-real-session-id-at-all-xxxxxxx')")
    dash.goto("/trades")
    dash.wait(lambda: dash.path() == "/login", "the login page")
    assert dash.js("return localStorage.getItem('tradewire.sessionId')") is None
    dash.assert_console_clean(r"401")


def test_server_restart_reconnects_and_resyncs(
    dash: EngineDashboard, account: Account, service: ServiceProcess
) -> None:
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    dash.record_states()
    service.restart()
    dash.wait_state("live", timeout=20)
    assert "reconnecting" in dash.states_seen()
    account.place_order("AMZN", "buy", 1)
    dash.wait(
        lambda: any("Bought 1 AMZN" in t for t in dash.toast_texts("success")),
        "the toast after restart",
    )
    dash.wait(
        lambda: dash.finds('[data-testid="portfolio"] tr[data-symbol="AMZN"]'), "the AMZN position"
    )
    dash.assert_console_clean(r"establish a connection", r"WebSocket", r"NetworkError")


def test_symbol_page_chart_ticks_marks_fills_and_reloads_after_a_restart(
    dash: EngineDashboard, account: Account, service: ServiceProcess
) -> None:
    account.place_order("MSFT", "buy", 1)
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    link = '[data-testid="watchlist"] tr[data-symbol="MSFT"] a.spark-link'
    dash.wait(lambda: dash.finds(link), "the MSFT sparkline link")
    dash.find(link).click()
    dash.wait(lambda: dash.path() == "/symbols/MSFT", "the MSFT page")
    chart = '[data-testid="candle-chart"]'

    def attribute(name: str) -> str | None:
        value: str | None = dash.find(chart).get_attribute(name)
        return value

    dash.wait(lambda: attribute("data-loads") == "1", "the chart's first load")
    dash.wait(lambda: dash.finds(f"{chart} canvas"), "the chart's canvas")
    dash.wait(
        lambda: chart_shows_the_service_bars(attribute, account, "MSFT"),
        "the chart to show the service's MSFT bars",
    )
    dash.wait(lambda: attribute("data-markers") == "1", "the earlier fill marked")
    first_close = attribute("data-last-close")
    dash.wait(lambda: attribute("data-last-close") != first_close, "the newest candle to move")

    account.place_order("MSFT", "buy", 1)  # a fill elsewhere reaches the chart live
    dash.wait(lambda: attribute("data-markers") == "2", "the live fill marked")

    dash.record_states()
    service.restart()  # bars in memory go with the process: the reload shows the new ones
    dash.wait_state("live", timeout=20)
    assert "reconnecting" in dash.states_seen()
    dash.wait(lambda: attribute("data-loads") == "2", "the chart to load again")
    dash.wait(
        lambda: chart_shows_the_service_bars(attribute, account, "MSFT"),
        "the reloaded chart to show the service's MSFT bars, each once",
    )
    dash.assert_console_clean(r"establish a connection", r"WebSocket", r"NetworkError")


def _shows_the_trade(tab: EngineDashboard, handle: str, name: str) -> None:
    """Switches to the tab, which shows the NVDA buy (toast and position) without having
    reloaded, and is still live."""
    tab.driver.switch_to.window(handle)
    tab.wait(
        lambda: any("Bought 4 NVDA" in t for t in tab.toast_texts("success")),
        f"the toast in the {name} tab",
    )
    tab.wait(lambda: tab.position_quantity("NVDA") == "4", f"the NVDA position in the {name} tab")
    assert tab.js("return window.__sameDocument") is True, f"the {name} tab reloaded"
    assert tab.state() == "live"
    assert tab.state_label() == "Live"


def test_two_tabs_of_one_user_both_update(dash: EngineDashboard, account: Account) -> None:
    """The second tab is signed in by what the first one stored (same browser); an order placed
    in the first shows in both as it happens."""
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    first = dash.driver.current_window_handle
    other = EngineDashboard(dash.engine, dash.base_url)
    second = other.open_tab()
    try:
        other.goto("/")
        other.wait_state("live")
        other.wait_portfolio_loaded()
        other.js("window.__sameDocument = true")

        dash.driver.switch_to.window(first)
        dash.js("window.__sameDocument = true")
        dash.place_market_order("NVDA", "buy", 4)
        _shows_the_trade(dash, first, "first")
        _shows_the_trade(other, second, "second")
    finally:
        dash.driver.switch_to.window(second)
        other.collect_console()
        dash.driver.close()
        dash.driver.switch_to.window(first)
    dash.assert_console_clean()


def test_rate_limiting_is_shown(
    dash: EngineDashboard, account: Account, service: ServiceProcess
) -> None:
    """Another device of the user has used up the watchlist subscriptions (60 a minute): adding a
    symbol here is refused, and the user is told to slow down and when to retry."""
    account.set_watchlist(["AAPL"])
    dash.login(account.username, account.password)
    flood_watchlist_subscriptions(service, account.session_id, 70)
    dash.add_to_watchlist("MSFT")
    dash.wait(
        lambda: any(
            re.search(r"Slow down: too many watchlist requests; retry in \d+ s", t)
            for t in dash.toast_texts("warning")
        ),
        "the rate-limit toast",
    )
    dash.assert_console_clean()


@contextmanager
def _offline(driver: WebDriver) -> Iterator[None]:
    """The current tab offline (WebDriver BiDi): requests fail, navigator.onLine is false, and
    Firefox closes the open WebSocket."""
    tab = [driver.current_window_handle]
    driver.emulation.set_network_conditions(offline=True, contexts=tab)
    try:
        yield
    finally:
        driver.emulation.set_network_conditions(offline=False, contexts=tab)


@contextmanager
def _socket_refused(driver: WebDriver) -> Iterator[None]:
    """Every new Socket.IO WebSocket handshake fails (a BiDi network intercept); a socket
    already open is left alone."""
    handler = driver.network.add_request_handler([SOCKET_URLS], lambda request: request.fail())
    try:
        yield
    finally:
        driver.network.remove_request_handler(handler)


@pytest.mark.parametrize("engine", ["firefox"], indirect=True)
def test_network_drop_reconnects_and_resyncs(dash: EngineDashboard, account: Account) -> None:
    """Offline, which closes the socket -> "Offline"; the network back but the socket still
    refused -> "Reconnecting (attempt N)"; then "Live", with what happened meanwhile re-synced."""
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    dash.record_states()

    with _socket_refused(dash.driver):
        with _offline(dash.driver):
            dash.wait_state("offline")
            assert dash.state_label() == "Offline"
            portfolio = dash.find('[data-testid="portfolio"]')
            dash.wait(lambda: portfolio.get_attribute("data-stale") == "true", "stale data marked")
            assert dash.cash() == "$100,000.00"  # the data stays while stale
            account.place_order("TSLA", "buy", 2)  # meanwhile, elsewhere: an order fills

        # the network is back, the socket still refused
        dash.wait_state("reconnecting")
        assert re.fullmatch(r"Reconnecting \(attempt \d+\)", dash.state_label())

    dash.wait_state("live", timeout=30)
    dash.wait(lambda: dash.position_quantity("TSLA") == "2", "the TSLA position re-synced")
    dash.wait(lambda: dash.cash() != "$100,000.00", "the cash re-synced")
    dash.wait(lambda: len(dash.trade_rows()) == 1, "the trade in the recent trades")
    assert {"offline", "reconnecting", "live"} <= set(dash.states_seen())
    dash.assert_console_clean(FIREFOX_SOCKET_REFUSED)
