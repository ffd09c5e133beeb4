#!/usr/bin/env python3
"""Turns a bench/compare run directory into results.md, results.json and chart.png.

Rows pair each StemeDB workload with its etcd and Redis equivalent and give
throughput, p50/p99 and the ratio StemeDB/peer (throughput: higher is better
for StemeDB when > 1; latency: lower is better for StemeDB when < 1).
"""
import json
import subprocess
import sys
from pathlib import Path

run = Path(sys.argv[1])
results = {}
for line in (run / "results.jsonl").read_text().splitlines():
    row = json.loads(line)
    results[row["label"]] = row

fio = json.loads((run / "fio.json").read_text())["jobs"][0]
sync = fio["sync"] if "sync" in fio else {}
fio_rate = fio["write"]["iops"]
fio_p50 = sync.get("lat_ns", {}).get("percentile", {}).get("50.000000", 0) / 1e6
fio_p99 = sync.get("lat_ns", {}).get("percentile", {}).get("99.000000", 0) / 1e6

ROWS = [
    ("durable single write, 1 conn", "stemedb assert c=1", "etcd put c=1", "redis set c=1"),
    ("durable single write, 16 conns", "stemedb assert c=16", "etcd put c=16", "redis set c=16"),
    ("durable single write, 64 conns", "stemedb assert c=64", "etcd put c=64", "redis set c=64"),
    ("durable single write, 256 conns", "stemedb assert c=256", "etcd put c=256", "redis set c=256"),
    ("batch of 100, 64 conns (items/s)", "stemedb batch100 c=64", "etcd txn100 c=64", "redis mset100 c=64"),
    ("point read, 64 conns", "stemedb get c=64", "etcd get c=64", "redis get c=64"),
    ("subject query (limit 10), 64 conns", "stemedb query c=64", None, None),
]


def cell(label, key="items_per_s"):
    row = results.get(label) if label else None
    if not row or not row.get("result"):
        return None
    return row["result"]


def fmt(value, digits=0):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def ratio(a, b):
    return "n/a" if (a is None or not b) else f"{a / b:.2f}x"


lines = [f"# bench/compare {run.name}", "", "```", (run / "machine.txt").read_text().strip(), "```", "",
         f"fio fdatasync, 512 B writes: **{fio_rate:,.0f}/s**, p50 {fio_p50:.2f} ms, p99 {fio_p99:.2f} ms "
         "(one sync per write: the ceiling without group commit).", "",
         "| workload | StemeDB /s | p50 ms | p99 ms | etcd /s | p50 | p99 | Redis /s | p50 | p99 | StemeDB/etcd | StemeDB/Redis |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
chart = []
for title, s, e, r in ROWS:
    S, E, R = cell(s), cell(e), cell(r)
    get = lambda x, k: None if x is None else x[k]
    lines.append("| " + " | ".join([
        title,
        fmt(get(S, "items_per_s")), fmt(get(S, "p50_ms"), 2), fmt(get(S, "p99_ms"), 2),
        fmt(get(E, "items_per_s")), fmt(get(E, "p50_ms"), 2), fmt(get(E, "p99_ms"), 2),
        fmt(get(R, "items_per_s")), fmt(get(R, "p50_ms"), 2), fmt(get(R, "p99_ms"), 2),
        ratio(get(S, "items_per_s"), get(E, "items_per_s")),
        ratio(get(S, "items_per_s"), get(R, "items_per_s")),
    ]) + " |")
    chart.append((title.replace(" ", "_"), get(S, "items_per_s") or 0, get(E, "items_per_s") or 0,
                  get(R, "items_per_s") or 0))
failed = [k for k, v in results.items() if v.get("failed") or (v.get("result") or {}).get("errors")]
if failed:
    lines += ["", "Points with errors: " + ", ".join(failed)]
(run / "results.md").write_text("\n".join(lines) + "\n")
(run / "results.json").write_text(json.dumps({"fio": {"iops": fio_rate, "p50_ms": fio_p50, "p99_ms": fio_p99},
                                              "results": results}, indent=1))
dat = run / "chart.dat"
dat.write_text("\n".join(f"{t} {s} {e} {r}" for t, s, e, r in chart) + "\n")
script = f"""
set terminal pngcairo size 1200,600
set output '{run / "chart.png"}'
set style data histograms
set style histogram clustered gap 1
set style fill solid border -1
set logscale y
set ylabel 'operations/s (log)'
set xtics rotate by -25 noenhanced
set key top right
plot '{dat}' using 2:xtic(1) title 'StemeDB', '' using 3 title 'etcd 3.4', '' using 4 title 'Redis 7 (fsync always)'
"""
subprocess.run(["gnuplot"], input=script.encode(), check=False)
print((run / "results.md").read_text())
