"""Page helpers shared by the browser tests: what a user does and sees on the dashboard.

`PlaywrightDashboard` drives Chromium; `SeleniumDashboard` drives Firefox ESR and WebKitGTK. Both
wait on explicit signals the dashboard exposes (`data-connection-state` on the header's status
indicator, `data-tick` on watchlist rows, sonner's `data-sonner-toast` / `data-type`), each wait
with a timeout naming what it waited for.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from selenium.common.exceptions import (
    JavascriptException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from tests.e2e.conftest import REPO, Account, ConsoleLog

T = TypeVar("T")


def service_bars(account: Account, symbol: str) -> list[dict[str, Any]]:
    """Every bar the service keeps of `symbol`, oldest first."""
    res = account.client.get(f"/api/quotes/{symbol}/bars", params={"limit": 480})
    res.raise_for_status()
    bars: list[dict[str, Any]] = res.json()["bars"]
    return bars


def chart_shows_the_service_bars(
    attribute: Callable[[str], str | None], account: Account, symbol: str
) -> bool:
    """The candle chart (its data attributes, read with `attribute`) shows the service's bars:
    as many, ending at the same minute. The service is read before and after the chart, so a
    minute that rolls in between is not taken for a mismatch; a bar drawn twice, or a gap, is."""
    before = service_bars(account, symbol)
    shown = (attribute("data-bars"), attribute("data-last-time"))
    after = service_bars(account, symbol)
    return any(
        bars and shown == (str(len(bars)), str(bars[-1]["time"])) for bars in (before, after)
    )


WAIT_MS = 10_000
WAIT_S = WAIT_MS / 1000

FAILURES = REPO / "test-results" / "e2e-failures"
STATE = "[data-connection-state]"
UP_COLOUR = "rgb(34, 197, 94)"
DOWN_COLOUR = "rgb(244, 63, 94)"

# Records every value the connection indicator takes, so a test can assert a state that only
# lasted a moment ("reconnecting") without racing it.
RECORD_STATES_JS = """
(() => {
  if (window.__twStates) return;
  window.__twStates = [];
  const note = () => {
    const el = document.querySelector('[data-connection-state]');
    const s = el && el.getAttribute('data-connection-state');
    const seen = window.__twStates;
    if (s && seen[seen.length - 1] !== s) seen.push(s);
  };
  new MutationObserver(note).observe(document.documentElement, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['data-connection-state'],
  });
  note();
})();
"""

# Where the toast's top (its close button included) and the header's bottom are, and whether the
# toast has finished sliding in (no transition left running on it).
TOAST_AND_HEADER_JS = """
(toast) => {
  const header = document.querySelector('header.topbar').getBoundingClientRect();
  const close = toast.querySelector('[data-close-button]');
  const tops = [toast, close].filter(Boolean).map((el) => el.getBoundingClientRect().top);
  return { toastTop: Math.min(...tops), headerBottom: header.bottom,
           settled: toast.getAnimations().length === 0 };
}
"""
TOAST_BELOW_HEADER_JS = f"""
(toast) => {{
  const b = ({TOAST_AND_HEADER_JS.strip()})(toast);
  return b.settled && b.toastTop >= b.headerBottom;
}}
"""


class PlaywrightDashboard:
    def __init__(self, page: Page, console: ConsoleLog) -> None:
        self.page = page
        self.console = console
        page.on(
            "console",
            lambda m: console.add(f"console.{m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: console.add(f"pageerror: {e}"))

    # --- navigation and login
    def login(self, username: str, password: str) -> None:
        self.page.goto("/login")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.wait_state("live")

    def state(self) -> Locator:
        return self.page.locator(STATE)

    def state_label(self) -> Locator:
        """The indicator's visible text ("Live", "Reconnecting (attempt 2)"...)."""
        return self.page.locator(f"{STATE} .conn-label")

    def wait_state(self, state: str, timeout: int = WAIT_MS) -> None:
        expect(self.state(), f"connection state {state!r}").to_have_attribute(
            "data-connection-state", state, timeout=timeout
        )

    def record_states(self) -> None:
        self.page.evaluate(RECORD_STATES_JS)

    def states_seen(self) -> list[str]:
        seen: list[str] = self.page.evaluate("window.__twStates || []")
        return seen

    # --- portfolio
    def stat(self, field: str) -> Locator:
        return self.page.locator(f'[data-testid="portfolio"] [data-field="{field}"]')

    def wait_portfolio_loaded(self) -> str:
        expect(self.stat("cash")).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"), timeout=WAIT_MS)
        return self.stat("cash").inner_text()

    def position_row(self, symbol: str) -> Locator:
        return self.page.locator(f'[data-testid="portfolio"] tr[data-symbol="{symbol}"]')

    # --- order ticket
    def ticket(self) -> Locator:
        return self.page.get_by_test_id("order-ticket")

    def fill_order(self, symbol: str, side: str, quantity: int, limit: str | None = None) -> None:
        t = self.ticket()
        t.get_by_label("Symbol").fill(symbol)
        t.get_by_role("radio", name=side.capitalize()).check()
        t.get_by_role("radio", name="Limit" if limit else "Market").check()
        t.get_by_label("Quantity").fill(str(quantity))
        if limit:
            t.get_by_label("Limit price").fill(limit)

    def submit_order(self, symbol: str, side: str) -> None:
        self.ticket().get_by_role("button", name=f"{side.capitalize()} {symbol}").click()

    def order_result(self) -> Locator:
        return self.ticket().locator("[data-order-status]")

    # --- toasts (sonner)
    def toasts(self, kind: str) -> Locator:
        return self.page.locator(f'[data-sonner-toast][data-type="{kind}"]')

    def expect_below_header(self, toast: Locator) -> None:
        """Once the toast has slid in, its top (close button included) is below the header's
        bottom: the user's name, the connection state and "Log out" stay readable."""
        toast.wait_for(state="visible")
        handle = toast.first.element_handle()
        try:
            self.page.wait_for_function(
                TOAST_BELOW_HEADER_JS, arg=handle, timeout=WAIT_MS, polling="raf"
            )
        except PlaywrightTimeoutError:
            boxes = self.page.evaluate(TOAST_AND_HEADER_JS, handle)
            raise AssertionError(f"the toast covers the header: {boxes}") from None


E = TypeVar("E")


class SeleniumDashboard:
    """The same user actions through WebDriver (Firefox ESR, WebKitGTK)."""

    def __init__(self, driver: WebDriver, base_url: str, console: ConsoleLog) -> None:
        self.driver = driver
        self.base_url = base_url
        self.console = console

    def wait(self, predicate: Callable[[], T | None], what: str, timeout: float = WAIT_S) -> T:
        end = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            try:
                result = predicate()
                if result:
                    return result
            except (
                NoSuchElementException,
                StaleElementReferenceException,
                JavascriptException,
            ) as exc:
                last_error = exc
            if time.monotonic() >= end:
                shot = self.failure_screenshot()
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {what} (last error: {last_error!r}; "
                    f"screenshot: {shot})"
                )
            time.sleep(0.05)

    def failure_screenshot(self) -> str:
        FAILURES.mkdir(parents=True, exist_ok=True)
        path = FAILURES / f"{self.driver.name}-{time.strftime('%H%M%S')}.png"
        try:
            self.driver.save_screenshot(str(path))
        except Exception as exc:  # the screenshot must not hide the timeout
            return f"none ({exc!r})"
        return str(path)

    def wait_still(self, css: str) -> None:
        """Until the element has not moved for two polls (an entering animation is over)."""
        previous: list[object] = [None]

        def still() -> bool:
            rect = self.js(
                "const r = arguments[0].getBoundingClientRect(); return [r.x, r.y]", self.find(css)
            )
            same: bool = rect == previous[0]
            previous[0] = rect
            return same

        self.wait(still, f"{css} to stop moving")

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def goto(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def fill(self, css: str, value: str) -> None:
        """Replaces the input's value the way a user does: select all, delete, type. (WebDriver's
        clear() is not seen by React in WebKitGTK, so the typing was appended.)"""
        el = self.wait(lambda: self.find(css), f"input {css}")
        el.send_keys(Keys.CONTROL, "a")
        el.send_keys(Keys.BACKSPACE)
        el.send_keys(value)
        self.wait(lambda: el.get_attribute("value") == value, f"{css} to read {value!r}")

    def login(self, username: str, password: str) -> None:
        self.goto("/login")
        self.fill('input[name="username"]', username)
        self.fill('input[name="password"]', password)
        self.find('button[type="submit"]').click()
        self.wait_state("live")

    def state(self) -> str:
        value = self.find(STATE).get_attribute("data-connection-state")
        return value or ""

    def wait_state(self, state: str, timeout: float = WAIT_S) -> None:
        self.wait(lambda: self.state() == state, f"connection state {state!r}", timeout)

    def record_states(self) -> None:
        self.js(RECORD_STATES_JS)

    def states_seen(self) -> list[str]:
        seen: list[str] = self.js("return window.__twStates || []")
        return seen

    def path(self) -> str:
        path: str = self.js("return location.pathname")
        return path

    def text(self, css: str) -> str:
        """The element's textContent, trimmed (WebDriver's visible-text rules differ by engine)."""
        text: str = self.js("return arguments[0].textContent.trim()", self.find(css))
        return text

    def cash(self) -> str:
        return self.text('[data-testid="portfolio"] [data-field="cash"]')

    def wait_portfolio_loaded(self) -> str:
        def loaded() -> str | None:
            cash = self.cash()
            return cash if re.match(r"^\$[\d,]+\.\d\d$", cash) else None

        return self.wait(loaded, "the portfolio snapshot")

    def place_market_order(self, symbol: str, side: str, quantity: int) -> None:
        ticket = '[data-testid="order-ticket"]'
        self.fill(f'{ticket} input[name="symbol"]', symbol)
        # the radios are visually covered by their labels: click the label
        self.find(f"{ticket} .seg-{side}").click()
        self.fill(f'{ticket} input[name="quantity"]', str(quantity))
        self.find(f'{ticket} button[type="submit"]').click()

    def toasts(self, kind: str) -> list[WebElement]:
        return self.finds(f'[data-sonner-toast][data-type="{kind}"]')

    def toast_texts(self, kind: str) -> list[str]:
        texts: list[str] = self.js(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)",
            f'[data-sonner-toast][data-type="{kind}"]',
        )
        return texts

    def state_label(self) -> str:
        """The indicator's visible text ("Live", "Reconnecting (attempt 2)"...)."""
        return self.text(f"{STATE} .conn-label")

    def position_quantity(self, symbol: str) -> str:
        """The quantity in the symbol's portfolio row (NoSuchElementException while there is
        none, which `wait` treats as "not yet")."""
        row = f'[data-testid="portfolio"] tr[data-symbol="{symbol}"]'
        return self.text(f'{row} [data-field="quantity"]')

    def trade_rows(self) -> list[WebElement]:
        return self.finds('[data-testid="recent-trades"] tr[data-trade-id]')

    def add_to_watchlist(self, symbol: str) -> None:
        watchlist = '[data-testid="watchlist"]'
        self.fill(f'{watchlist} input[name="symbol"]', symbol)
        self.find(f'{watchlist} button[type="submit"]').click()

    def open_tab(self) -> str:
        """Opens a new tab in the same browser (same cookies and storage) and switches to it;
        returns its window handle."""
        self.driver.switch_to.new_window("tab")
        return self.driver.current_window_handle
