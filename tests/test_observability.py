"""Observability: `/metrics` moves with real client traffic, the alert rules pass their promtool
unit tests, the dashboard and docs name only real metrics, and the logs carry request context
and never a secret."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
import yaml
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import make_settings
from tests.harness.binaries import ServiceUnavailable, require_executable
from tests.harness.fixtures import in_ci
from tests.harness.process import ServiceProcess
from tests.harness.waiting import wait_until
from tests.support import LiveServer, SocketClient
from tradewire import metrics
from tradewire.logs import REQUEST_ID, JsonFormatter, RedactSecrets, RequestContext
from tradewire.realtime import sockets
from tradewire.realtime.limits import EVENT_LIMITS

ROOT = Path(__file__).resolve().parents[1]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "tradewire.json"
MONITORING = ROOT / "docs" / "MONITORING.md"

# Every label a tradewire series may have. A user id, sid or symbol label would be unbounded.
ALLOWED_LABELS = {"transport", "reason", "event", "status", "le"}
ALLOWED_LABELS |= {"version", "cluster", "database", "realtime"}  # tradewire_instance_info
ALLOWED_LABELS |= {"outcome"}  # tradewire_socket_recoveries_total: three values
DISCONNECT_REASONS = sockets.DISCONNECT_REASONS

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


# ------------------------------------------------------------------ helpers


async def scrape(server: LiveServer) -> Samples:
    async with server.http() as http:
        r = await http.get("/metrics")
    assert r.status_code == 200, r.text
    return parse(r.text)


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples `name` whose labels include `labels` (0 when there are none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def wait_for_metric(
    server: LiveServer, name: str, above: float, timeout: float = 5, **labels: str
) -> Samples:
    """Scrape until `name{labels}` exceeds `above`; TimeoutError names the series."""

    async def moved() -> Samples:
        samples = await scrape(server)
        return samples if value(samples, name, **labels) > above else {}

    found: Samples = await wait_until(
        moved, timeout=timeout, what=f"{name}{labels or ''} to rise above {above}"
    )
    return found


async def call_until_refused(client: SocketClient, event: str) -> None:
    """Call `event` until the rate limiter refuses it. Its limit is 30 a minute: 61 calls are
    over it even if a fixed window turns over in the middle."""
    for _ in range(61):
        answer = await client.sio.call(event, timeout=5)
        if not answer["ok"] and answer["error"]["code"] == "RATE_LIMITED":
            return
    raise AssertionError(f"61 {event} calls in a row and none was rate limited")


def exported_names() -> set[str]:
    """Every sample name this process can export, labelled families without children included."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "info": ("_info",),
        "summary": ("_count", "_sum", "_created"),
    }
    names = set()
    for family in REGISTRY.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def tradewire_families() -> dict[str, str]:
    """name as exposed -> type, for tradewire's own metrics."""
    exposed = {"counter": "_total", "info": "_info"}
    return {
        f.name + exposed.get(f.type, ""): f.type
        for f in REGISTRY.collect()
        if f.name.startswith("tradewire_")
    }


def metric_names_in(promql: str) -> set[str]:
    return set(re.findall(r"\b(?:tradewire|process)_[a-z0-9_]+", promql))


# ------------------------------------------------------------------ /metrics


async def test_metrics_endpoint_serves_every_series_in_prometheus_format(
    server: LiveServer,
) -> None:
    async with server.http() as http:
        text = await http.get("/metrics")
        openmetrics = await http.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    for name in tradewire_families():
        assert f"# HELP {name.removesuffix('_total').removesuffix('_info')}" in text.text
    samples = parse(text.text)
    assert value(samples, "tradewire_instance_info", cluster="single", database="sqlite") == 1
    assert value(samples, "process_resident_memory_bytes") > 0
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


async def test_series_move_during_a_real_client_session(server: LiveServer) -> None:
    before = await scrape(server)
    session = await server.register(f"obs{uuid.uuid4().hex[:10]}")
    async with SocketClient() as client:
        await client.connect(server.url, session)
        during = await wait_for_metric(
            server,
            "tradewire_socket_connections",
            value(before, "tradewire_socket_connections", transport="websocket"),
            transport="websocket",
        )
        assert (await client.sio.call("subscribe:portfolio", timeout=5))["ok"] is True
        assert (await client.sio.call("no-such-event", {}, timeout=5))["ok"] is False
        await server.place_order(session, symbol="AAPL", side="buy", quantity=1)
        await client.wait_for("trade:executed")
        refused = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(server.url, auth={"sessionId": "x" * 43}, wait_timeout=5)
        await refused.shutdown()
        await wait_for_metric(
            server,
            "tradewire_socket_messages_emitted_total",
            value(before, "tradewire_socket_messages_emitted_total", event="trade:executed"),
            event="trade:executed",
        )
    after = await wait_for_metric(
        server,
        "tradewire_socket_disconnects_total",
        value(before, "tradewire_socket_disconnects_total"),
    )

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert value(during, "tradewire_socket_connections") - value(
        before, "tradewire_socket_connections"
    ) == pytest.approx(1)
    assert delta("tradewire_socket_connections") == pytest.approx(0)
    assert delta("tradewire_socket_connects_total") == 1
    assert delta("tradewire_socket_disconnects_total") == 1
    reasons = {dict(ls)["reason"] for n, ls in after if n == "tradewire_socket_disconnects_total"}
    assert reasons <= DISCONNECT_REASONS
    assert delta("tradewire_socket_auth_failures_total") == 1
    assert delta("tradewire_socket_handshake_seconds_count") == 2
    assert delta("tradewire_socket_events_received_total", event="subscribe:portfolio") == 1
    assert delta("tradewire_socket_events_received_total", event="*") == 1
    assert delta("tradewire_socket_messages_emitted_total", event="trade:executed") >= 1
    assert delta("tradewire_socket_messages_emitted_total", event="portfolio:update") >= 1
    assert delta("tradewire_socket_messages_emitted_total", event="quote:update") > 0


async def test_rate_limited_events_are_counted_by_event(server: LiveServer) -> None:
    before = await scrape(server)
    session = await server.register(f"obs{uuid.uuid4().hex[:10]}")
    async with SocketClient() as client:
        await client.connect(server.url, session)
        await call_until_refused(client, "subscribe:trades")
        after = await wait_for_metric(
            server,
            "tradewire_socket_rate_limited_total",
            value(before, "tradewire_socket_rate_limited_total", event="subscribe:trades"),
            event="subscribe:trades",
        )
    emitted = "tradewire_socket_messages_emitted_total"
    notices = value(after, emitted, event="rate_limited") - value(
        before, emitted, event="rate_limited"
    )
    assert notices >= 1


async def test_label_values_stay_bounded(server: LiveServer) -> None:
    session = await server.register(f"obs{uuid.uuid4().hex[:10]}")
    async with SocketClient() as client:
        await client.connect(server.url, session)
        for i in range(25):
            await client.sio.call(f"made-up-event-{i}-{uuid.uuid4().hex}", {}, timeout=5)
        await client.sio.call("subscribe:watchlist", {"symbols": ["AAPL", "MSFT"]}, timeout=5)
        await client.wait_for("quote:update")
    samples = await scrape(server)
    symbols = {info.symbol for info in server.services.feed.symbols}
    values_by_label: dict[tuple[str, str], set[str]] = {}
    for name, labels in samples:
        if not name.startswith("tradewire_"):
            continue
        for label, label_value in labels:
            assert label in ALLOWED_LABELS, f"{name} has an unbounded label {label!r}"
            assert label_value not in symbols, f"{name} has a symbol as a label value"
            values_by_label.setdefault((name, label), set()).add(label_value)
    for (name, label), seen in values_by_label.items():
        assert len(seen) <= 20, f"{name}{{{label}}} has {len(seen)} values: {sorted(seen)}"
    known_events = set(EVENT_LIMITS) | {"*"}
    for name in ("tradewire_socket_events_received_total", "tradewire_socket_rate_limited_total"):
        assert values_by_label.get((name, "event"), set()) <= known_events
    reasons = values_by_label.get(("tradewire_socket_disconnects_total", "reason"), set())
    assert reasons <= DISCONNECT_REASONS


# Series recorded by the hooks in the realtime server, the executor and Services (cluster mode).


async def test_quote_delivery_latency_is_measured(server: LiveServer) -> None:
    before = await scrape(server)
    session = await server.register(f"obs{uuid.uuid4().hex[:10]}")
    async with SocketClient() as client:
        await client.connect(server.url, session)
        await client.sio.call("subscribe:watchlist", {"symbols": ["AAPL"]}, timeout=5)
        await client.wait_for("quote:update")
    count = "tradewire_quote_delivery_seconds_count"
    after = await wait_for_metric(server, count, value(before, count))
    observed = value(after, count) - value(before, count)
    took = value(after, "tradewire_quote_delivery_seconds_sum") - value(
        before, "tradewire_quote_delivery_seconds_sum"
    )
    assert took / observed < 1, "quotes of a live local market arrive well within a second"


async def test_order_to_trade_latency_is_measured(server: LiveServer) -> None:
    before = await scrape(server)
    session = await server.register(f"obs{uuid.uuid4().hex[:10]}")
    async with SocketClient() as client:
        await client.connect(server.url, session)
        await server.place_order(session, symbol="MSFT", side="buy", quantity=2)
        await client.wait_for("trade:executed")
    count = "tradewire_order_to_trade_seconds_count"
    after = await wait_for_metric(server, count, value(before, count))
    assert value(after, count) - value(before, count) == 1


async def test_orders_are_counted_by_outcome(server: LiveServer) -> None:
    before = await scrape(server)
    session = await server.register(f"obs{uuid.uuid4().hex[:10]}")
    await server.place_order(session, symbol="AAPL", side="buy", quantity=1)
    await server.place_order(session, symbol="AAPL", side="buy", quantity=10**6)  # no cash
    name = "tradewire_orders_total"
    after = await wait_for_metric(
        server, name, value(before, name, status="rejected"), status="rejected"
    )
    assert value(after, name, status="filled") - value(before, name, status="filled") == 1
    assert value(after, name, status="rejected") - value(before, name, status="rejected") == 1


async def test_redis_pubsub_up_in_cluster_mode(tmp_path: Path, redis_url: str) -> None:
    async with LiveServer(make_settings(tmp_path, redis_url=redis_url)) as server:
        samples = await scrape(server)
        assert value(samples, "tradewire_instance_info", cluster="redis") == 1
        await wait_for_metric(server, "tradewire_redis_pubsub_up", 0.5)


async def test_quote_delivery_is_clamped_and_order_marks_follow_their_tasks() -> None:
    """The helpers behind the hooks: clock skew never records a negative latency, and an order
    mark reaches the tasks its order starts, not unrelated ones."""

    def count(histogram: str) -> float:
        return value(parse_registry(), f"{histogram}_count")

    def total(histogram: str) -> float:
        return value(parse_registry(), f"{histogram}_sum")

    quotes, orders = "tradewire_quote_delivery_seconds", "tradewire_order_to_trade_seconds"
    sum_before = total(quotes)
    metrics.observe_quote_delivery(int((time.time() + 60) * 1000))  # a clock ahead of ours
    assert total(quotes) == sum_before

    async def emit() -> None:
        metrics.observe_order_to_trade()

    async def order() -> None:
        metrics.mark_order_received()
        await asyncio.create_task(emit())  # the listener task of this order's event

    before = count(orders)
    await asyncio.create_task(emit())  # no order in this context: not timed
    assert count(orders) == before
    await asyncio.create_task(order())
    assert count(orders) == before + 1
    await asyncio.create_task(emit())  # the mark stayed in the order's task
    assert count(orders) == before + 1


def test_garbage_collector_passes_are_timed_and_long_ones_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`tradewire serve` times every collector pass (the whole process stops for it): a full
    collection lands in generation 2's histogram and, over GC_PAUSE_LOGGED, in the log."""
    monkeypatch.setattr(metrics, "GC_PAUSE_LOGGED", 0.0)
    passes = "tradewire_gc_pause_seconds_count"
    before = value(parse_registry(), passes, generation="2")
    callback = metrics.watch_garbage_collector()
    try:
        with caplog.at_level(logging.WARNING, logger="tradewire.metrics"):
            gc.collect()
    finally:
        gc.callbacks.remove(callback)
    assert value(parse_registry(), passes, generation="2") == before + 1
    logged = [
        r for r in caplog.records if r.getMessage() == "garbage collection paused the process"
    ]
    assert [r.generation for r in logged] == [2], logged  # type: ignore[attr-defined]
    gc.collect()  # the callback is gone: nothing more is counted
    assert value(parse_registry(), passes, generation="2") == before + 1


def parse_registry() -> Samples:
    return parse(generate_latest(REGISTRY).decode())


# ------------------------------------------------------------------ alert rules (promtool)


@pytest.fixture(scope="module")
def promtool() -> Path:
    """promtool, or skip (developer machine) / fail (CI) with the install hint."""
    try:
        return require_executable("promtool", group="metrics", debian_package="prometheus")
    except ServiceUnavailable as exc:
        if in_ci():
            pytest.fail(f"CI is set and promtool is missing: {exc}", pytrace=False)
        pytest.skip(str(exc))


def run_promtool(promtool: Path, *args: str | Path) -> str:
    result = subprocess.run(
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(map(str, args))} failed:\n{output}"
    return output


def test_alert_rules_are_valid(promtool: Path) -> None:
    assert "SUCCESS" in run_promtool(promtool, "check", "rules", ALERTS)


def test_alert_rule_unit_tests_pass(promtool: Path) -> None:
    assert "SUCCESS" in run_promtool(promtool, "test", "rules", ALERTS_TEST)


def test_prometheus_config_is_valid(promtool: Path) -> None:
    run_promtool(promtool, "check", "config", PROMETHEUS_CONFIG)


def test_dashboard_queries_are_valid_promql(promtool: Path, tmp_path: Path) -> None:
    """Every panel query parses (Grafana's variables replaced by what they expand to)."""
    rules = [
        {
            "record": f"dashboard:panel{i}",
            "expr": expr.replace("$__rate_interval", "1m").replace("$instance", ".*"),
        }
        for i, expr in enumerate(dashboard_exprs())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run_promtool(promtool, "check", "rules", path)


# ------------------------------------------------------------------ rules, dashboard, docs


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_exprs() -> Iterator[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the markdown headings: lower case, punctuation dropped, - for spaces."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_every_alert_has_a_wait_a_severity_a_summary_and_a_runbook() -> None:
    anchors = heading_anchors(MONITORING.read_text())
    rules = alert_rules()
    assert len(rules) >= 7
    for rule in rules:
        name = rule["alert"]
        assert rule.get("for"), f"{name} has no `for:`"
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name
        doc, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert doc == "docs/MONITORING.md", name
        assert anchor in anchors, f"{name}: docs/MONITORING.md has no heading #{anchor}"


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load(ALERTS_TEST.read_text())
    assert tests["rule_files"] == ["alerts.yml"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested not firing"


def test_alerts_and_dashboard_use_only_metrics_that_exist() -> None:
    exported = exported_names()
    for source, exprs in (
        ("alerts.yml", [rule["expr"] for rule in alert_rules()]),
        ("tradewire.json", list(dashboard_exprs())),
    ):
        used = metric_names_in("\n".join(exprs))
        assert used, source
        assert used <= exported, f"{source} uses metrics nobody exports: {used - exported}"


def test_dashboard_panels_are_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "tradewire"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    graphs = [p for p in dashboard["panels"] if p["type"] != "row"]
    for panel in graphs:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
    shown = metric_names_in("\n".join(dashboard_exprs()))
    for name in ("tradewire_quote_delivery_seconds_bucket", "tradewire_socket_connections"):
        assert name in shown


def test_monitoring_doc_covers_every_metric_and_alert() -> None:
    doc = MONITORING.read_text()
    for name in tradewire_families():
        assert f"`{name}`" in doc, f"docs/MONITORING.md does not describe {name}"
    for rule in alert_rules():
        assert f"### {rule['alert']}" in doc
    assert "docs/BENCHMARKS.md" in doc and "make bench" in doc


# ------------------------------------------------------------------ request ids and logs


async def test_request_id_is_kept_or_made_and_returned(server: LiveServer) -> None:
    async with server.http() as http:
        kept = await http.get("/healthz", headers={"X-Request-ID": "lb-7f3a.1_x"})
        made = await http.get("/healthz")
        replaced = await http.get("/healthz", headers={"X-Request-ID": "not a token; rm -rf"})
        too_long = await http.get("/api/me", headers={"X-Request-ID": "a" * 65})
    assert kept.headers["x-request-id"] == "lb-7f3a.1_x"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    assert too_long.status_code == 401
    assert re.fullmatch(r"[0-9a-f]{32}", too_long.headers["x-request-id"])


async def test_log_records_of_a_request_carry_its_id(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(RequestContext())
    caplog.set_level("DEBUG", logger="tradewire")
    session = await server.login()
    async with server.http(session) as http:
        r = await http.post(
            "/api/orders",
            json={"symbol": "NVDA", "side": "buy", "quantity": 1},
            headers={"X-Request-ID": "order-req-1"},
        )
    assert r.status_code == 201
    records = [r for r in caplog.records if getattr(r, "request_id", None) == "order-req-1"]
    messages = {r.getMessage() for r in records}
    assert {"trade executed", "request"} <= messages
    access = next(r for r in records if r.getMessage() == "request")
    assert (access.method, access.path, access.status) == ("POST", "/api/orders", 201)  # type: ignore[attr-defined]
    assert REQUEST_ID.get() is None


TOKEN = "Hq3vN0b9x_KzP2mWcT7uYl-8sRfEeA1dGiJoQ4nBv5M"  # the shape of secrets.token_urlsafe(32)


@pytest.mark.parametrize(
    ("message", "extra"),
    [
        (f"headers: Authorization: Bearer {TOKEN}", {}),
        (f"cookie header tw_session={TOKEN}; theme=dark", {}),
        ('body {"username": "ann", "password": "correct-horse-9"}', {}),
        ("login failed", {"password": "correct-horse-9"}),
        ("handshake", {"auth": {"sessionId": TOKEN}}),
        ("handshake", {"headers": [("authorization", f"Bearer {TOKEN}")]}),
        (f"token seen: {TOKEN}", {}),
        ("query: %s", {}),
    ],
)
def test_redaction_masks_secrets_that_slip_into_a_record(
    message: str, extra: dict[str, Any]
) -> None:
    args = (f"?sessionId={TOKEN}&password=correct-horse-9",) if "%s" in message else None
    record = make_record(message, args, extra)
    assert RedactSecrets().filter(record)
    line = JsonFormatter().format(record)
    assert TOKEN not in line and "correct-horse-9" not in line
    assert "[redacted]" in line
    json.loads(line)


def test_redaction_keeps_what_operators_need() -> None:
    session_key = "9f2c" * 16  # the token's SHA-256: safe to log
    context = {"user_id": 42, "sid": "Xk3n_Z0rV8uYtL1pQa2b", "session_key": session_key}
    context |= {"request_id": uuid.uuid4().hex, "event": "subscribe:portfolio", "symbol": "AAPL"}
    record = make_record("socket connected", None, context)
    RedactSecrets().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert {k: entry[k] for k in context} == context
    assert entry["message"] == "socket connected"


def test_redaction_covers_exception_text() -> None:
    try:
        raise ValueError(f"bad header Bearer {TOKEN}")
    except ValueError:
        record = make_record("emit failed", None, {}, exc_info=sys.exc_info())
    RedactSecrets().filter(record)
    line = JsonFormatter().format(record)
    assert TOKEN not in line
    assert "ValueError" in json.loads(line)["exc"]


def make_record(
    message: str, args: tuple[Any, ...] | None, extra: dict[str, Any], exc_info: Any = None
) -> logging.LogRecord:
    record = logging.LogRecord("tradewire.test", logging.INFO, __file__, 1, message, args, exc_info)
    for key, val in extra.items():
        setattr(record, key, val)
    return record


async def test_no_secret_reaches_the_json_log_of_a_real_session() -> None:
    """Register, log in (once wrongly), connect a socket, trade, hit a rate limit, log out, all
    against a real service process logging JSON at debug level: the session token, the
    passwords and the Authorization header never appear, and every line is a JSON object with
    the context an operator searches by."""
    username = f"obs{uuid.uuid4().hex[:10]}"
    password = f"Pw-{uuid.uuid4().hex}"
    wrong_password = f"Wrong-{uuid.uuid4().hex}"
    env = {"LOG_FORMAT": "json", "MARKET_SEED": "5", "MARKET_TICK_RATE": "5"}
    with ServiceProcess(env, log_level="debug") as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as http:
            creds = {"username": username, "password": password}
            registered = await http.post(
                "/api/auth/register", json=creds, headers={"X-Request-ID": "obs-register-1"}
            )
            assert registered.status_code == 201
            bad = {"username": username, "password": wrong_password}
            assert (await http.post("/api/auth/login", json=bad)).status_code == 401
            login = await http.post("/api/auth/login", json=creds)
            token = login.json()["sessionId"]
            bearer = {"Authorization": f"Bearer {token}"}
            http.cookies.clear()
            async with SocketClient() as client:
                await client.connect(service.url, token)
                # over the limit: a warning with `event`
                await call_until_refused(client, "subscribe:portfolio")
                order = await http.post(
                    "/api/orders",
                    json={"symbol": "AAPL", "side": "buy", "quantity": 1},
                    headers={**bearer, "X-Request-ID": "obs-order-1"},
                )
                assert order.status_code == 201
                await client.wait_for("trade:executed")
                assert (await http.post("/api/auth/logout", headers=bearer)).status_code == 204
                await wait_until(
                    lambda: not client.sio.connected,
                    timeout=5,
                    what="logout to disconnect the socket",
                )
        assert service.terminate() == 0
        log = service.log_text()

    for secret in (token, password, wrong_password, f"Bearer {token}"):
        assert secret not in log
    entries = []
    for line in log.splitlines():
        if not line.strip() or line.startswith("--- starting "):  # the harness's own marker
            continue
        entry = json.loads(line)
        assert isinstance(entry, dict)
        assert {"ts", "level", "logger", "message"} <= set(entry), line
        entries.append(entry)

    def first(message: str, **context: Any) -> dict[str, Any]:
        for e in entries:
            if e["message"] == message and all(e.get(k) == v for k, v in context.items()):
                return e
        raise AssertionError(f"no {message!r} {context} line in the log")

    user_id = first("user registered", request_id="obs-register-1")["user_id"]
    assert first("socket connected", user_id=user_id)["sid"]
    assert first("rate limit exceeded", user_id=user_id)["event"] == "subscribe:portfolio"
    first("trade executed", user_id=user_id, request_id="obs-order-1")
    first("request", path="/api/orders", status=201, request_id="obs-order-1")
    assert first("socket disconnected", user_id=user_id)["sid"]
    assert any(e["level"] == "debug" for e in entries)
    assert not any("Traceback" in json.dumps(e) for e in entries)
