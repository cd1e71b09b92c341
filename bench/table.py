#!/usr/bin/env python3
"""Turns bench/results/raw.jsonl (written by bench/run) into the markdown table of bench/README.md.

Usage: table.py RAW.jsonl > table.md     the side-by-side table (medians of the runs)
       table.py --brief < one-line.json   a one-line summary of one zocket-bench result
"""
import json
import statistics
import sys

SERVERS = ["zocket", "zocket-prev", "zocket-msgpack", "zocket-1t", "bun", "tungstenite"]
HEADINGS = {
    "zocket": "zocket",
    "zocket-msgpack": "zocket msgpack",
    "zocket-1t": "zocket 1 thread",
    "zocket-prev": "zocket (previous build)",
    "bun": "bun",
    "tungstenite": "tungstenite",
}
CASES = ["rpc1", "rpc16", "rpc16p", "broadcast", "stress", "rooms", "rooms-stress", "idle"]
RATIOS = [("zocket", "tungstenite"), ("zocket", "bun"), ("zocket-1t", "bun"), ("zocket", "zocket-prev")]

# Headroom: what share of the machine (window × cores) each side used. A generator near its share of
# the cores may itself have limited the run.
SHARE = ("server / generator share of all cores", ("server_cpu_share", "generator_cpu_share"), "pair", None)

# (label, field path, format, better): better is "up" (higher is better), "down", or None (no ratio).
FANOUT = [
    ("deliveries/s", "throughput", "int", "up"),
    ("deliveries per server CPU-s", "work_per_server_cpu_s", "int", "up"),
    ("p50 fan-out latency, ms", "latency_ms.p50", "ms", "down"),
    ("p99 fan-out latency, ms", "latency_ms.p99", "ms", "down"),
    ("lost deliveries", "lost", "int", None),
    ("server CPU-s / generator CPU-s", ("server_cpu_s", "generator_cpu_s"), "pair", None),
    SHARE,
]
KERNEL = ("CPU-s of kernel threads (kworker, ksoftirqd)", "kernel_threads_cpu_s", "cpu", None)
OTHER = ("CPU-s of other processes (disturbance)", "other_cpu_s", "cpu", None)
METRICS = {
    "rpc": [
        ("calls/s", "throughput", "int", "up"),
        ("calls per server CPU-s", "work_per_server_cpu_s", "int", "up"),
        ("p50 latency, ms", "latency_ms.p50", "ms", "down"),
        ("p99 latency, ms", "latency_ms.p99", "ms", "down"),
        ("wrong replies / errors", ("wrong", "errors"), "pair", None),
        ("server CPU-s / generator CPU-s", ("server_cpu_s", "generator_cpu_s"), "pair", None),
        SHARE,
        ("frames per write (generator)", "frames_per_write", "ratio", None),
    ],
    "broadcast": FANOUT + [("disconnects / errors", ("disconnects", "errors"), "pair", None)],
    "rooms": FANOUT[:5] + [("wrong-room deliveries", "wrong", "int", None)] + FANOUT[5:],
    "idle": [
        ("server memory per connection, KiB", "mem_per_conn_kib", "kib", "down"),
        ("server RSS with all connected, MiB", "server_rss_after_kib", "mib", "down"),
        ("connect + first echo p99, ms", "latency_ms.p99", "ms", "down"),
    ],
}
# In the stress cases the senders outrun every server: "lost" there is what was still undelivered when
# the drain ended (no server disconnects anyone), so it is a lag, not a drop count.
STRESS_LOST = "not delivered by the end of the drain"


def get(record, path):
    value = record
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def median(records, path):
    values = [v for v in (get(r, path) for r in records) if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def fmt(value, kind):
    if value is None:
        return "—"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "ms":
        return f"{value:.2f}" if value < 100 else f"{value:,.0f}"
    if kind == "kib":
        return f"{value:.1f}"
    if kind == "cpu":
        return f"{value:.2f}"
    if kind == "ratio":
        return f"{value:.1f}"
    if kind == "mib":
        return f"{value / 1024:.1f}"
    return str(value)


def describe(case, record):
    p = record["params"]
    if case.startswith("rpc"):
        mode = ", pipelined" if p.get("pipelined") else ""
        return f"rpc: {p['clients']} clients × {p['in_flight']} in flight{mode}, {p['duration_s']:g} s"
    if case == "stress":
        return f"broadcast stress: {p['clients']} clients, {p['rate']:g} shouts/s, {p['duration_s']:g} s"
    if case == "broadcast":
        return f"broadcast: {p['clients']} clients, {p['rate']:g} shouts/s, {p['duration_s']:g} s"
    if case.startswith("rooms"):
        kind = "rooms stress" if case == "rooms-stress" else "rooms"
        return f"{kind}: {p['clients']} clients in {p['rooms']} rooms, {p['rate']:g} shouts/s in all, {p['duration_s']:g} s"
    return f"idle: {p['clients']} connections"


# A run during which other processes kept this many cores busy is "disturbed": it is left out of the
# median when the same cell has at least one undisturbed run.
DISTURBED_CORES = 0.25


def disturbance(record):
    other, window = record.get("other_cpu_s"), record.get("window_s")
    return other / window if other is not None and window else 0.0


def keep_undisturbed(results):
    """Drops disturbed runs from cells that also have undisturbed ones; returns (kept, dropped)."""
    kept, dropped = [], []
    cells = {}
    for r in results:
        cells.setdefault((r["case"], r["server"]), []).append(r)
    for runs in cells.values():
        clean = [r for r in runs if disturbance(r) < DISTURBED_CORES]
        kept += clean or runs
        dropped += [r for r in runs if clean and r not in clean]
    return kept, dropped


def table(lines):
    meta = next((line["meta"] for line in lines if "meta" in line), {})
    skipped = {line["server"]: line["skipped"] for line in lines if "skipped" in line}
    measured = [line for line in lines if "scenario" in line]
    results, dropped = keep_undisturbed(measured)
    failures = [line for line in lines if "error" in line]
    servers = [s for s in SERVERS if any(r["server"] == s for r in results + failures) or s in skipped]
    ratios = [(a, b) for a, b in RATIOS if a in servers and b in servers]

    out = ["# Side by side: the bench app on each server", ""]
    out.append(
        f"Measured {meta.get('date', '?')} at commit {meta.get('commit', '?')}, {meta.get('runs', '?')} run(s) per cell "
        f"(median shown), {meta.get('nproc', '?')} cores shared by the server and the load generator "
        f"(zocket-bench, 2 runtime threads), loopback only. Bun {meta.get('bun', '?')}."
    )
    other = [disturbance(r) for r in measured]
    if other:
        out.append(
            f"Other processes on the machine used {min(other):.2f} to {max(other):.2f} cores during the measurements "
            "(row \"CPU-s of other processes\"); anything well above 0 skews that cell."
        )
    if dropped:
        out.append(
            f"Left out of the medians as disturbed (other processes kept {DISTURBED_CORES} cores or more busy): "
            + ", ".join(f"{r['case']}/{r['server']} run {r['run']} ({disturbance(r):.2f} cores)" for r in dropped)
            + "."
        )
    for server, why in skipped.items():
        out.append(f"{HEADINGS[server]}: skipped: {why}")
    out.append("")
    out.append(
        "Ratios are zocket ÷ the other server: for throughput and work per CPU-second above 1 is better for zocket; "
        "for latency and memory below 1 is better for zocket."
    )
    out.append("")

    header = ["scenario / metric"] + [HEADINGS[s] for s in servers] + [f"{HEADINGS[a]}/{HEADINGS[b]}" for a, b in ratios]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * len(header))
    for case in CASES:
        case_results = [r for r in results if r["case"] == case]
        case_failures = [r for r in failures if r["case"] == case]
        if not case_results and not case_failures:
            continue
        first = case_results[0] if case_results else None
        title = describe(case, first) if first else case
        out.append(f"| **{title}** |" + " |" * (len(header) - 1))
        kind = first["scenario"] if first else None
        for label, path, form, better in METRICS.get(kind, []) + [KERNEL, OTHER]:
            if case.endswith("stress") and path == "lost":
                label = STRESS_LOST
            cells = []
            values = {}
            for server in servers:
                mine = [r for r in case_results if r["server"] == server]
                if not mine:
                    failed = [r for r in case_failures if r["server"] == server]
                    cells.append("failed" if failed else ("skipped" if server in skipped else "—"))
                    continue
                if isinstance(path, tuple):
                    cells.append(" / ".join(fmt(median(mine, p), "cpu" if "cpu" in p else "int") for p in path))
                    continue
                values[server] = median(mine, path)
                cell = fmt(values[server], form)
                ran = sum(1 for r in measured if r["case"] == case and r["server"] == server)
                if ran < meta.get("runs", ran):
                    cell += f" ({ran} runs)"
                cells.append(cell)
            for a, b in ratios:
                va, vb = values.get(a), values.get(b)
                cells.append(f"{va / vb:.2f}×" if better and va is not None and vb else "")
            out.append(f"| {label} | " + " | ".join(cells) + " |")
    if failures:
        out.append("")
        out.append("Failed runs:")
        for f in failures:
            out.append(f"- {f['case']} / {f['server']} / run {f['run']}: {f['error']}")
    out.append("")
    return "\n".join(out)


def brief(record):
    lat = record.get("latency_ms", {})
    parts = [f"   {record.get('scenario')}"]
    if record.get("throughput") is not None:
        parts.append(f"{record['throughput']:,.0f} {record.get('unit')}")
    if record.get("work_per_server_cpu_s") is not None:
        parts.append(f"{record['work_per_server_cpu_s']:,.0f} per server CPU-s")
    parts.append(f"p50 {lat.get('p50')} ms p99 {lat.get('p99')} ms")
    if record.get("expected") is not None:
        parts.append(f"lost {record['lost']}")
    parts.append(f"wrong {record.get('wrong')} errors {record.get('errors')} disconnects {record.get('disconnects')}")
    if record.get("mem_per_conn_kib") is not None:
        parts.append(f"{record['mem_per_conn_kib']} KiB/conn")
    parts.append(f"cpu server {record.get('server_cpu_s')} s gen {record.get('generator_cpu_s')} s")
    if record.get("generator_cpu_share") is not None:
        parts.append(
            f"share of {record.get('cores')} cores server {record.get('server_cpu_share')} gen {record['generator_cpu_share']}"
        )
    if record.get("frames_per_write") is not None:
        parts.append(f"{record['frames_per_write']} frames/write")
    parts.append(f"kernel threads {record.get('kernel_threads_cpu_s')} s other {record.get('other_cpu_s')} s")
    return ", ".join(parts)


def main():
    if sys.argv[1:] == ["--brief"]:
        print(brief(json.loads(sys.stdin.read())))
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    print(table(lines))


if __name__ == "__main__":
    main()
