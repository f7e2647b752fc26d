"""Targets and the generated part of docs/BENCHMARKS.md.

`--write-docs` replaces only the text between the `bench:generated` markers, so the hand-written
analysis around it (what limits a figure, the profile notes) stays.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS.md"
PUBLISHED = ROOT / "bench" / "published.jsonl"
"""The records docs/BENCHMARKS.md was last rendered from (committed with it)."""
START = "<!-- bench:generated:start (bench/run.py --write-docs rewrites this part) -->"
END = "<!-- bench:generated:end -->"

Record = dict[str, Any]


# ---------------------------------------------------------------- targets


def check_targets(record: Record) -> dict[str, bool]:
    """Each target of the record's scenario -> met or not."""
    out: dict[str, bool] = {}
    for name, bound in record.get("targets", {}).items():
        value = target_value(record, name)
        if value is None:
            out[name] = False
        elif name in ("delivered_ratio", "all_connected", "far_delivered"):
            out[name] = value >= bound
        else:
            out[name] = value <= bound
    return out


def offered_ratio(record: Record) -> float | None:
    """Delivered share of the *offered* load: the delivered share of the ticks the feed made,
    scaled down when the feed made fewer than its nominal rate (tradewire's feed shares the
    event loop, so a saturated loop slows the feed and fewer quotes exist to deliver). With
    `quotes:update` batches, a quote conflated into a newer one of its symbol counts as
    delivered (`covered_ratio`): that is what batching promises."""
    ratio = record.get("covered_ratio") if record.get("batch") else record.get("delivered_ratio")
    if ratio is None:
        ratio = record.get("delivered_ratio")
    made, nominal = record.get("feed_ticks_per_s"), record.get("feed_ticks_nominal_per_s")
    if ratio is None:
        return None
    if made is None or not nominal:
        return float(ratio)
    return float(ratio) * min(1.0, made / nominal)


def target_value(record: Record, name: str) -> float | None:
    value: float | None
    if name == "delivered_ratio":
        value = offered_ratio(record)
    elif name == "quote_p99_ms":
        value = record["quote_latency_ms"]["p99"]
    elif name == "order_p99_ms":
        value = record["order_latency_ms"]["p99"]
    elif name == "far_quote_p99_ms":
        value = record["far"]["quote_latency_ms"]["p99"]
    elif name == "far_trade_push_p99_ms":
        value = record["far"]["trade_push_ms"]["p99"]
    elif name == "far_delivered":
        far = record["far"]
        every = far["covered_ratio"] == 1 and far["trade_events"] >= far["trade_events_expected"]
        value = 1.0 if every else 0.0
    elif name == "all_connected":
        ok = record["connected"] == record["clients"] and record["subscribed"] == record["clients"]
        value = 1.0 if ok else 0.0
    else:
        value = record.get(name)
    return value


# ---------------------------------------------------------------- environment


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _npm_version(folder: str, package: str) -> str:
    path = ROOT / "bench" / folder / "node_modules" / package / "package.json"
    try:
        return str(json.loads(path.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "?"


def environment() -> dict[str, Any]:
    cpu_model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    os_name = "?"
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass

    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_gib, 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "websockets": dist("websockets"),
        "uvicorn": dist("uvicorn"),
        "node": _run(["node", "--version"]),
        "socket.io": _npm_version("node-server", "socket.io"),
        "socket.io-client": _npm_version("harness", "socket.io-client"),
    }


# ---------------------------------------------------------------- rendering


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def _lat(d: dict[str, Any], keys: tuple[str, ...]) -> str:
    return " / ".join(_ms(d.get(k)) for k in keys)


def _delivered(r: Record) -> str:
    """Share of the offered quote updates delivered; and of the ticks made, when the feed
    fell short of its nominal rate."""
    offered = offered_ratio(r) or 0.0
    text = f"{100 * offered:.1f} %"
    if r.get("batch") and r.get("covered_ratio") is not None:
        return text + f" ({100 * r['delivered_ratio']:.1f} % as sent, the rest conflated)"
    if abs(offered - r["delivered_ratio"]) > 0.005:
        text += f" (of ticks made: {100 * r['delivered_ratio']:.1f} %)"
    return text


def _orders(r: Record) -> str:
    """Order latency p50 / p99, and how many orders got their event, when not all did."""
    text = _lat(r["order_latency_ms"], ("p50", "p99"))
    matched, sent = r.get("trade_events_matched", 0), r.get("orders_sent", 0)
    if sent and matched < sent:
        text += f" ({matched:,} of {sent:,} orders resolved)"
    return text


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"


def results_table(records: list[Record]) -> str:
    head = (
        "| Run | Server | Connected / errors | Delivered (of offered) | Quote updates/s "
        "| Quote latency p50 / p95 / p99 / max (ms) | Order → trade:executed p50 / p99 (ms) "
        "| Server CPU | RSS idle → steady (MB) | RSS / conn connected → steady (KB) "
        "| CPU-s per M updates "
        "| Generator CPU |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in records:
        if r["server"] == "tradewire-cluster":
            continue  # cluster_table
        delivered = r.get("delivered_ratio")
        rows.append(
            "| {run} | {server} | {conn:,} / {err:,} | {dlv} | {ups:,.0f} | {ql} | {ol} "
            "| {cpu} | {rss_idle:,.0f} → {rss:,.0f} | {per_c:,.1f} → {per:,.1f} | {cpm} "
            "| {gen} |".format(
                run=r["scenario"],
                server=r["server"],
                conn=r["connected"],
                err=r["connect_errors"],
                dlv="-" if delivered is None else _delivered(r),
                ups=r["quote_updates_per_s"],
                ql=_lat(r["quote_latency_ms"], ("p50", "p95", "p99", "max")),
                ol=_orders(r),
                cpu=_pct(r.get("server_cpu_pct")),
                rss_idle=r["rss_idle_mb"],
                rss=r["rss_steady_mb"],
                per=r["rss_per_conn_kb"],
                per_c=r["rss_per_conn_connected_kb"],
                cpm="-"
                if r.get("cpu_s_per_m_updates") is None
                else f"{r['cpu_s_per_m_updates']:,.1f}",
                gen=_pct(r.get("generator_cpu_pct")),
            )
        )
    return head + "\n".join(rows) + "\n"


def _latest(records: list[Record], scenario: str, server: str) -> Record | None:
    found = [r for r in records if r["scenario"] == scenario and r["server"] == server]
    return found[-1] if found else None


def _mark(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**not met**")


def targets_table(records: list[Record]) -> str:
    lines = [
        "| Scenario | Target | tradewire | met? | Node socket.io | met? |",
        "|---|---|---|---|---|---|",
    ]

    def cell(scenario: str, server: str, name: str) -> tuple[str, bool | None]:
        r = _latest(records, scenario, server)
        if r is None:
            return "not run", None
        value = target_value(r, name)
        met = check_targets(r).get(name)
        if name == "all_connected":
            text = f"{r['connected']:,} connected, {r['subscribed']:,} subscribed"
        elif name == "delivered_ratio":
            text = "-" if value is None else f"{100 * value:.1f} % of offered"
            if r.get("feed_ticks_per_s") is not None:
                made = (
                    f"feed made {r['feed_ticks_per_s']:.1f} of {r['feed_ticks_nominal_per_s']:.0f}"
                )
                if r.get("batch") and r.get("covered_ratio") is not None:
                    text += (
                        f" ({made} ticks/s; {100 * r['covered_ratio']:.1f} % of those delivered: "
                        f"{100 * r['delivered_ratio']:.1f} % as sent, the rest conflated into a "
                        "newer quote of the symbol)"
                    )
                else:
                    text += (
                        f" ({made} ticks/s; {100 * r['delivered_ratio']:.1f} % of those delivered)"
                    )
        elif name == "server_cpu_pct":
            text = _pct(value)
        elif name == "rss_per_conn_kb":
            text = "-" if value is None else f"{value:,.1f} KB at steady state"
            if r.get("rss_per_conn_connected_kb") is not None:
                text += f" ({r['rss_per_conn_connected_kb']:,.1f} KB connected, not subscribed)"
        else:
            text = "no order resolved" if value is None else f"{_ms(value)} ms"
            matched, sent = r.get("trade_events_matched", 0), r.get("orders_sent", 0)
            if name == "order_p99_ms" and sent and matched < sent:
                text += f" ({matched:,} of {sent:,} orders resolved)"
                met = False
        return text, met

    for mode in ("", "-batch"):
        scenario = f"S1{mode}"
        tw, nd = _latest(records, scenario, "tradewire"), _latest(records, scenario, "node")
        what = "quote p99 no higher than Node's in the same run"
        if tw and nd and tw["quote_latency_ms"]["p99"] is not None:
            tw_p99, nd_p99 = tw["quote_latency_ms"]["p99"], nd["quote_latency_ms"]["p99"]
            lines.append(
                f"| {scenario} | {what} | {_ms(tw_p99)} ms | {_mark(tw_p99 <= nd_p99)} "
                f"| {_ms(nd_p99)} ms | - |"
            )
        else:
            lines.append(f"| {scenario} | {what} | not run | - | - | - |")
    rows = []
    for mode in ("", "-batch"):
        rows += [
            (f"S1{mode}", "order_p99_ms", "order → trade:executed p99 ≤ 50 ms"),
            (f"S1{mode}", "server_cpu_pct", "server CPU well under one core (≤ 50 %)"),
        ]
    for mode in ("", "-batch"):
        rows += [
            (f"S2{mode}", "all_connected", "all 10,000 connected and subscribed"),
            (f"S2{mode}", "delivered_ratio", "≥ 99 % of quote updates delivered (of 100,000/s)"),
            (f"S2{mode}", "quote_p99_ms", "quote p99 ≤ 250 ms"),
            (f"S2{mode}", "rss_per_conn_kb", "≤ 12 KB RSS per subscribed connection above idle"),
        ]
    rows += [
        ("S5", "all_connected", "every idle connection connected and subscribed"),
        ("S5", "rss_per_conn_kb", "RSS per idle subscribed connection ≤ 12 KB"),
        ("S5", "server_cpu_pct", "idle CPU: heartbeats only (reported)"),
    ]
    for scenario, name, text in rows:
        tw, tw_ok = cell(scenario, "tradewire", name)
        nd, nd_ok = cell(scenario, "node", name)
        if name == "server_cpu_pct" and scenario == "S5":
            tw_ok = nd_ok = None  # a figure to report, not a bound
        lines.append(f"| {scenario} | {text} | {tw} | {_mark(tw_ok)} | {nd} | {_mark(nd_ok)} |")
    for tw_run, node_run in (("S1", "S1"), ("S1-batch", "S1"), ("S1-batch", "S1-batch")):
        tw = _latest(records, tw_run, "tradewire")
        nd = _latest(records, node_run, "node")
        what = f"CPU-s per million updates, tradewire {tw_run} ≤ 0.5 x Node {node_run}"
        if tw and nd and tw.get("cpu_s_per_m_updates") and nd.get("cpu_s_per_m_updates"):
            ratio = tw["cpu_s_per_m_updates"] / nd["cpu_s_per_m_updates"]
            lines.append(
                f"| S3 | {what} | {tw['cpu_s_per_m_updates']:,.1f} (ratio {ratio:.2f} x) "
                f"| {_mark(ratio <= 0.5)} | {nd['cpu_s_per_m_updates']:,.1f} | - |"
            )
        else:
            lines.append(f"| S3 | {what} | not run | - | - | - |")
    for scenario in ("S2", "S2-batch"):
        tw4, tw4_ok = cell(scenario, "tradewire", "order_p99_ms")
        nd4, nd4_ok = cell(scenario, "node", "order_p99_ms")
        lines.append(
            f"| S4 | during {scenario}, 50 orders/s: trade:executed p99 ≤ 100 ms "
            f"| {tw4} | {_mark(tw4_ok)} | {nd4} | {_mark(nd4_ok)} |"
        )
    return "\n".join(lines) + "\n"


def cluster_table(records: list[Record]) -> str:
    runs = [r for r in records if r["server"] == "tradewire-cluster"]
    if not runs:
        return ""
    lines = [
        "\n### Cluster: two instances on one Redis\n",
        "Instance A runs the feed and takes the orders; B is the far instance. Quote latency is "
        "arrival minus the quote's `ts`; trade push is arrival minus the trade's `executedAt` "
        "(from the fill to the socket). Targets on B: every update delivered, quote and trade "
        "push p99 ≤ 20 ms.\n",
        "| Run | Instance | Clients | Quotes delivered | Quote p50 / p95 / p99 / max (ms) "
        "| trade:executed received | Trade push p50 / p95 / p99 / max (ms) | CPU | Targets |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        met = r.get("targets_met", {})
        verdict = (
            "all met"
            if met and all(met.values())
            else "**not met**: " + ", ".join(k for k, ok in met.items() if not ok)
        )
        for label, key, cpu in (("A (feed, orders)", "near", "A"), ("B (far)", "far", "B")):
            at = r[key]
            lines.append(
                f"| {r['scenario']} | {label} | {r['clients'] // 2:,} "
                f"| {100 * (at['covered_ratio'] or 0):.2f} % of {at['quotes_expected']:,} "
                f"| {_lat(at['quote_latency_ms'], ('p50', 'p95', 'p99', 'max'))} "
                f"| {at['trade_events']:,} of {at['trade_events_expected']:,} "
                f"| {_lat(at['trade_push_ms'], ('p50', 'p95', 'p99', 'max'))} "
                f"| {_pct(r['instance_cpu_pct'][cpu])} | {verdict if key == 'far' else ''} |"
            )
    return "\n".join(lines) + "\n"


def soak_table(records: list[Record]) -> str:
    soaks = [r for r in records if r["scenario"] == "soak"]
    if not soaks:
        return ""
    lines = [
        "\n### Soak\n",
        "| Server | Steady (min) | RSS at start → end of steady state (MB) | Growth | "
        "Quote p99 (ms) | Delivered |",
        "|---|---|---|---|---|---|",
    ]
    for r in soaks:
        start, end = r["rss_steady_start_mb"], r["rss_steady_mb"]
        lines.append(
            f"| {r['server']} | {r['steady_s'] / 60:.1f} | {start:,.0f} → {end:,.0f} "
            f"| {end - start:+,.1f} MB | {_ms(r['quote_latency_ms']['p99'])} "
            f"| {100 * (offered_ratio(r) or 0):.1f} % of offered |"
        )
        series = ", ".join(f"{s['elapsed_s']:.0f}s: {s['rss_mb']:.0f}" for s in r["rss_series"])
        lines.append(f"\nRSS series ({r['server']}, MB): {series}\n")
    return "\n".join(lines) + "\n"


def profile_section(records: list[Record]) -> str:
    profiled = [r for r in records if r.get("profile")]
    if not profiled:
        return ""
    out = []
    for r in profiled:
        p = r["profile"]
        out.append(
            f"\n### py-spy profile: {r['scenario']} on {r['server']} "
            f"({p['samples']:,} samples, {p['seconds']:.0f} s of the steady state)\n"
        )
        if p.get("areas"):
            out.append("Self time by package:\n")
            out.append("| % of samples | package |\n|---|---|")
            out.extend(f"| {pct:.1f} % | `{area}` |" for area, pct in p["areas"])
            out.append("")
        out.append("Self time (the function itself was on top of the stack):\n")
        out.append("| % of samples | function |\n|---|---|")
        out.extend(f"| {pct:.1f} % | `{fn}` |" for fn, pct in p["self"])
        out.append("\nInclusive time (the function was anywhere on the stack):\n")
        out.append("| % of samples | function |\n|---|---|")
        out.extend(f"| {pct:.1f} % | `{fn}` |" for fn, pct in p["inclusive"])
    return "\n".join(out) + "\n"


def generated_block(
    records: list[Record], with_profiles: list[Record], env: dict[str, Any], commands: list[str]
) -> str:
    scen = {r["scenario"]: r["scenario_config"] for r in records}
    scen_lines = "\n".join(
        f"- **{name}**: {cfg['clients']:,} clients on {cfg['users']:,} users "
        f"(one session each), {cfg['symbols']} symbols at {cfg['tick_rate']:g} ticks/s, "
        f"{cfg['symbols_per_client']} symbols per client, {cfg['orders_per_s']:g} orders/s, "
        f"{'`quotes:update` batches' if cfg['batch'] else '`quote:update` per quote'}, "
        f"{cfg['steady_s']:g} s steady state after {cfg['warmup_s']:g} s warm-up, "
        f"{cfg['workers']} generator worker(s) with "
        f"{'the lean client' if cfg.get('client') == 'lean' else 'socket.io-client'}"
        for name, cfg in scen.items()
    )
    loads = ", ".join(f"{r['loadavg_start'][0]:.1f}" for r in records)
    dates = sorted(r["started"][:16].replace("T", " ") for r in records if "started" in r)
    when = f"{dates[0]} to {dates[-1]} UTC" if dates else env["date"]
    nice = sorted({r.get("nice", 0) for r in records})
    versions = sorted(
        {r.get("server_version", "?") for r in records if r["server"].startswith("tradewire")}
    )
    return f"""{START}

Measured {when}; rendered {env["date"]}. tradewire source: {", ".join(versions)}.
Scheduling priority (`--nice`): {", ".join(str(n) for n in nice)}.

**Machine**: {env["nproc"]} cores ({env["cpu_model"]}), {env["memory_gib"]} GiB, {env["os"]},
kernel {env["kernel"]}. Server pinned to core 0, generator to core 1 (`taskset`). 1-minute load
average when each run started: {loads} (other work on the machine shows up as noise;
see the per-run `core0_other_pct` in the raw results).

**Versions**: Python {env["python"]}, websockets {env["websockets"]} (sans-I/O framing),
uvicorn {env["uvicorn"]}; Node {env["node"]}, socket.io
{env["socket.io"]}, socket.io-client {env["socket.io-client"]} (generator).

**Commands**:

```
{chr(10).join(commands)}
```

**Runs**:

{scen_lines}

### Targets

{targets_table(records)}
### All runs

{results_table(records)}
{cluster_table(records)}{soak_table(records)}{profile_section(with_profiles)}
{END}"""


TEMPLATE_HEAD = """# Benchmarks

How fast tradewire's real-time layer pushes quotes and trade notifications, measured by the
load harness in `bench/` (see `bench/README.md`), next to a Node socket.io 4.7.5 server with the
same events run by the same harness in the same run, so the two compare on any machine.

"""


def _key(record: Record) -> tuple[str, str, bool]:
    return (record["scenario"], record["server"], bool(record.get("profile")))


def merge_published(new: list[Record]) -> list[Record]:
    """The published records with `new` ones replacing those of the same scenario and server
    (a profiled run replaces only a profiled run): a soak or a single scenario re-run updates
    its rows and keeps the others."""
    merged: dict[tuple[str, str, bool], Record] = {}
    if PUBLISHED.exists():
        for line in PUBLISHED.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                merged[_key(record)] = record
    for record in new:
        merged[_key(record)] = record
    return list(merged.values())


def write_docs(new: list[Record], commands: list[str]) -> Path:
    """Merge `new` into bench/published.jsonl and render docs/BENCHMARKS.md from it."""
    records = [r for r in merge_published(new) if r["scenario"] != "smoke"]
    PUBLISHED.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    measured = [r for r in records if not r.get("profile")]
    commands = list(dict.fromkeys([*(r["command"] for r in records if "command" in r), *commands]))
    block = generated_block(measured, records, environment(), commands)
    if DOC.exists():
        text = DOC.read_text()
        pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
        text = pattern.sub(lambda _: block, text) if pattern.search(text) else text + "\n" + block
    else:
        text = TEMPLATE_HEAD + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)
    return DOC


if __name__ == "__main__":  # pragma: no cover - manual check
    print(json.dumps(environment(), indent=2), file=sys.stderr)
