"""The dashboard in Firefox ESR and WebKitGTK (Safari's engine) through Selenium, against the
real service: the scenarios these drivers allow (no offline mode or throttling here; the
network drop is a server restart).

Console errors: Firefox reports them over WebDriver BiDi; WebKitWebDriver has no log API, so a
hook installed after each page load records console.error, uncaught errors and unhandled
rejections (errors before the hook is installed are not seen there).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

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
    geckodriver_path,
    require,
)
from tests.e2e.pages import DOWN_COLOUR, UP_COLOUR, SeleniumDashboard
from tests.harness.process import ServiceProcess

pytestmark = [
    pytest.mark.e2e,
    # selenium's own WebKitGTK driver class still passes an argument it deprecated
    pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning:selenium"),
]

WATCHED = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "TSLA", "META", "JPM"]

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
    button = dash.find(selector)
    assert dash.text(selector) == "View Trade"
    button.click()
    dash.wait(lambda: re.fullmatch(r"/trades/\d+", dash.path()), "the trade page URL")
    page = dash.wait(lambda: dash.find('[data-testid="trade-page"]'), "the trade page")
    dash.wait(lambda: "Bought 2 MSFT" in page.text, "the trade details")
    dash.assert_console_clean()


def test_watchlist_ticks_with_up_and_down_colours(dash: EngineDashboard, account: Account) -> None:
    account.set_watchlist(WATCHED)
    dash.login(account.username, account.password)

    def colour(tick: str) -> str | None:
        cells = dash.finds(f'[data-testid="watchlist"] tr[data-tick="{tick}"] [data-field="last"]')
        return cells[0].value_of_css_property("color") if cells else None

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
