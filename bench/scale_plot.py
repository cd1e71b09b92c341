"""Plots bench/results/scale.jsonl: server memory per idle connection and the time one broadcast
takes to reach the last connection, against the number of connections, one line per server (the
counts past one process's open-files limit come from several nodes on one Redis: their own line)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(raw, png):
    rows = [json.loads(line) for line in open(raw) if line.strip()]
    servers = sorted({r["label"] for r in rows})
    fig, (mem, fan) = plt.subplots(1, 2, figsize=(11, 4.2))
    for server in servers:
        mine = sorted((r for r in rows if r["label"] == server), key=lambda r: r["connections"])
        n = [r["connections"] for r in mine]
        mem.plot(n, [r["mem_per_conn_kib"] for r in mine], marker="o", label=server)
        fan.plot(n, [r["fanout"]["last_ms"] for r in mine], marker="o", label=server)
    mem.set(title="Server memory per idle connection", xlabel="connections", ylabel="KiB (RSS delta / connections)")
    fan.set(title="One broadcast to all: last delivery", xlabel="connections", ylabel="ms after the send")
    for ax in (mem, fan):
        # 1 000 to 100 000: a log scale keeps the small counts readable.
        ax.set_xscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.set_ylim(bottom=0)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
