"""The real-time rollout in Chromium: an administrator switches real time off and on from the
ops page, and rolls it out to a share of users over the admin API, while a user's dashboard is
open. The user's dashboard drops to polling when it falls outside and goes live again when it
is back in, without a reload (the same document all along).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.e2e.conftest import Account, ChromiumSession, ConsoleLog
from tests.e2e.pages import WAIT_MS, PlaywrightDashboard
from tests.harness.process import ServiceProcess
from tradewire.rollout import bucket_of

pytestmark = pytest.mark.e2e


@pytest.fixture
def new_dash(
    chromium: ChromiumSession, service: ServiceProcess
) -> Iterator[Callable[[], PlaywrightDashboard]]:
    contexts: list[BrowserContext] = []

    def make() -> PlaywrightDashboard:
        ctx = chromium.browser.new_context(
            base_url=service.url, viewport={"width": 1280, "height": 900}
        )
        ctx.set_default_timeout(WAIT_MS)
        contexts.append(ctx)
        return PlaywrightDashboard(ctx.new_page(), ConsoleLog())

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def admin(service: ServiceProcess) -> Iterator[Account]:
    """demo, an administrator, over the API; the rollout is back to everyone afterwards."""
    account = Account(service.url, "demo", "demo-password")
    account.login()
    yield account
    res = account.client.put("/api/admin/realtime", json={"enabled": True, "percent": 100})
    assert res.status_code == 200, res.text
    account.close()


def user_live_in_one_document(dash: PlaywrightDashboard, account: Account) -> None:
    dash.login(account.username, account.password)
    dash.wait_portfolio_loaded()
    dash.page.evaluate("window.__sameDocument = true")


def still_the_same_document(dash: PlaywrightDashboard) -> None:
    assert dash.page.evaluate("window.__sameDocument === true"), "the dashboard was reloaded"


def test_the_ops_page_switches_real_time_off_and_on_and_a_dashboard_follows(
    new_dash: Callable[[], PlaywrightDashboard], account: Account, admin: Account
) -> None:
    user = new_dash()
    user_live_in_one_document(user, account)
    ops = new_dash()
    ops.login(admin.username, admin.password)
    ops.page.goto("/ops")
    panel = ops.page.get_by_test_id("rollout")
    expect(panel.locator('[data-field="rollout-state"]')).to_have_text("On for 100% of users")

    panel.get_by_label("Real time").uncheck()
    panel.get_by_role("button", name="Apply").click()
    expect(panel.locator('[data-field="rollout-state"]')).to_have_text("Off: every dashboard polls")
    user.wait_state("polling")
    expect(user.state_label()).to_have_text("Polling")
    assert admin.client.get("/api/admin/realtime").json() == {"enabled": False, "percent": 100}

    # while polling the user still trades, and sees it
    order = account.place_order("AAPL", "buy", 1)
    assert order["status"] == "filled"
    expect(user.toasts("success").filter(has_text="Bought 1 AAPL")).to_be_visible()

    panel.get_by_label("Real time").check()
    panel.get_by_role("button", name="Apply").click()
    expect(panel.locator('[data-field="rollout-state"]')).to_have_text("On for 100% of users")
    user.wait_state("live")
    expect(user.state_label()).to_have_text("Live")
    still_the_same_document(user)
    user.console.assert_clean()


def test_a_percentage_rollout_moves_a_user_out_and_back_in(
    new_dash: Callable[[], PlaywrightDashboard], account: Account, admin: Account
) -> None:
    user_id = int(account.client.get("/api/me").json()["userId"])
    bucket = bucket_of(user_id)
    user = new_dash()
    user_live_in_one_document(user, account)

    res = admin.client.put("/api/admin/realtime", json={"enabled": True, "percent": bucket})
    assert res.status_code == 200, res.text
    user.wait_state("polling")  # outside: bucket < percent is false
    assert account.client.get("/api/config").json()["realtimeEnabled"] is False

    res = admin.client.put("/api/admin/realtime", json={"enabled": True, "percent": bucket + 1})
    assert res.status_code == 200, res.text
    user.wait_state("live")
    assert account.client.get("/api/config").json()["realtimeEnabled"] is True
    still_the_same_document(user)
    user.console.assert_clean()
