#!/usr/bin/env python3
"""Renders bench/compare run directories.

  bench/report.py RUN_DIR
      results.md, results.json and chart.png in RUN_DIR (bench/compare calls it).
  bench/report.py --readme [RUN_DIR] [--baseline DIR]
      rewrites README.md's performance table and the run docs/architecture.md
      cites from RUN_DIR (default: the newest run in bench/results that is not
      a "-baseline" run), so every published figure comes from one run.
      --baseline adds a column: StemeDB's rate against a run of the previous
      build in the same session.
  bench/report.py --readme --check
      exits 1 when README.md's table is not what its named run renders to.

Rows pair each StemeDB workload with its etcd and Redis equivalent and give
throughput, p50/p99 and the ratio StemeDB/peer (throughput: higher is better
for StemeDB when > 1; latency: lower is better for StemeDB when < 1). The
figures are bench/loadgen's; where wrk (label "wrk <label>") measured the same
point more than WRK_DIFF apart, the cell shows both, and a second table lists
every point both harnesses ran.
"""
import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
WRK_DIFF = 0.10  # publish both harnesses' figures when they differ by more than this

ROWS = [
    ("durable single write, 1 conn", "stemedb assert c=1", "etcd put c=1", "redis set c=1"),
    ("durable single write, 16 conns", "stemedb assert c=16", "etcd put c=16", "redis set c=16"),
    ("durable single write, 64 conns", "stemedb assert c=64", "etcd put c=64", "redis set c=64"),
    ("durable single write, 256 conns", "stemedb assert c=256", "etcd put c=256", "redis set c=256"),
    ("batch of 100, 64 conns (items/s)", "stemedb batch100 c=64", "etcd txn100 c=64", "redis mset100 c=64"),
    ("point read, 64 conns", "stemedb get c=64", "etcd get c=64", "redis get c=64"),
    ("subject query (limit 10), 64 conns", "stemedb query c=64", None, None),
    ("durable single write, 1 conn pipelining 16", "stemedb assert c=1 p=16", "etcd put c=1 p=16",
     "redis set c=1 p=16"),
]


def rows_of(run):
    """ROWS this run measured (a run from before a row existed renders as it did)."""
    return [row for row in ROWS if run.cell(row[1]) is not None]


def fmt(value, digits=0):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def ratio(a, b):
    return "n/a" if (a is None or not b) else f"{a / b:.2f}x"


def differs(a, b):
    return a is not None and b is not None and max(a, b) > (1 + WRK_DIFF) * min(a, b)


class Run:
    """One bench/compare run directory."""

    def __init__(self, path):
        self.path = Path(path)
        self.results = {}
        for line in (self.path / "results.jsonl").read_text().splitlines():
            row = json.loads(line)
            self.results[row["label"]] = row
        fio = json.loads((self.path / "fio.json").read_text())["jobs"][0]
        sync = fio.get("sync", {})
        pct = sync.get("lat_ns", {}).get("percentile", {})
        self.fio_rate = fio["write"]["iops"]
        self.fio_p50 = pct.get("50.000000", 0) / 1e6
        self.fio_p99 = pct.get("99.000000", 0) / 1e6
        server = self.path / "stemedb.json"
        self.server = json.loads(server.read_text()) if server.exists() else None

    def cell(self, label):
        row = self.results.get(label) if label else None
        return row["result"] if row and row.get("result") else None

    def value(self, label, key="items_per_s"):
        c = self.cell(label)
        return None if c is None else c[key]

    def rate(self, label):
        """loadgen's items/s, with wrk's beside it when they differ by more than WRK_DIFF."""
        a = self.value(label)
        b = self.value("wrk " + label) if label else None
        return fmt(a) + (f" (wrk {fmt(b)})" if differs(a, b) else "")

    def failed(self):
        return [k for k, v in self.results.items() if v.get("failed") or (v.get("result") or {}).get("errors")]

    def wrk_table(self):
        pairs = [(k[4:], v["result"]) for k, v in self.results.items()
                 if k.startswith("wrk ") and v.get("result")]
        if not pairs:
            return []
        lines = [f"Second load generator: wrk (`bench/wrk/requests.lua`) on the HTTP points; "
                 f"differences over {WRK_DIFF:.0%} are marked.", "",
                 "| point | loadgen /s | p99 ms | wrk /s | p99 ms | wrk/loadgen |", "|---|---|---|---|---|---|"]
        for label, w in pairs:
            a = self.value(label)
            lines.append("| " + " | ".join([
                label, fmt(a), fmt(self.value(label, "p99_ms"), 2), fmt(w["items_per_s"]), fmt(w["p99_ms"], 2),
                ratio(w["items_per_s"], a) + (" **differs**" if differs(a, w["items_per_s"]) else "")]) + " |")
        return lines

    def fio_sentence(self):
        one = self.value("stemedb assert c=1")
        redis = self.value("redis set c=1")
        return (f"fio fdatasync, 512 B writes: **{self.fio_rate:,.0f}/s**, p50 {self.fio_p50:.2f} ms, "
                f"p99 {self.fio_p99:.2f} ms (one sync per write: the ceiling without group commit); "
                f"one connection reaches {ratio(one, self.fio_rate)} of it (Redis: {ratio(redis, self.fio_rate)}).")

    def server_sentence(self):
        s = self.server
        if not s:
            return None
        return (f"StemeDB RSS: {s['rss_idle_kib'] / 1024:.0f} MiB idle, {s['rss_end_kib'] / 1024:.0f} MiB after "
                f"the run (peak {s['rss_peak_kib'] / 1024:.0f} MiB); restart after `kill -9` with the run's "
                f"{s['data_dir_bytes'] / 2**20:,.0f} MiB data directory: {s['restart_to_ready_s']:.2f} s to ready.")


def write_run_report(run):
    lines = [f"# bench/compare {run.path.name}", "", "```", (run.path / "machine.txt").read_text().strip(), "```",
             "", run.fio_sentence(), "",
             "| workload | StemeDB /s | p50 ms | p99 ms | etcd /s | p50 | p99 | Redis /s | p50 | p99 "
             "| StemeDB/etcd | StemeDB/Redis |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    chart = []
    for title, s, e, r in rows_of(run):
        lines.append("| " + " | ".join([
            title,
            run.rate(s), fmt(run.value(s, "p50_ms"), 2), fmt(run.value(s, "p99_ms"), 2),
            run.rate(e), fmt(run.value(e, "p50_ms"), 2), fmt(run.value(e, "p99_ms"), 2),
            fmt(run.value(r)), fmt(run.value(r, "p50_ms"), 2), fmt(run.value(r, "p99_ms"), 2),
            ratio(run.value(s), run.value(e)), ratio(run.value(s), run.value(r)),
        ]) + " |")
        chart.append((title.replace(" ", "_"), run.value(s) or 0, run.value(e) or 0, run.value(r) or 0))
    wrk = run.wrk_table()
    if wrk:
        lines += [""] + wrk
    if run.server_sentence():
        lines += ["", run.server_sentence()]
    if run.failed():
        lines += ["", "Points with errors: " + ", ".join(run.failed())]
    out = run.path
    (out / "results.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(
        {"fio": {"iops": run.fio_rate, "p50_ms": run.fio_p50, "p99_ms": run.fio_p99},
         "stemedb": run.server, "results": run.results}, indent=1))
    dat = out / "chart.dat"
    dat.write_text("\n".join(f"{t} {s} {e} {r}" for t, s, e, r in chart) + "\n")
    script = f"""
set terminal pngcairo size 1200,600
set output '{out / "chart.png"}'
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
    print((out / "results.md").read_text())


# --- README.md and docs/architecture.md ---------------------------------------
BEGIN = "<!-- bench-table: generated by `bench/report.py --readme`; do not edit by hand -->"
END = "<!-- /bench-table -->"
CITE = re.compile(r"(<!-- bench-run -->).*?(<!-- /bench-run -->)", re.S)
NAMED = re.compile(r"<!-- run: (\S+?)(?: baseline: (\S+))? -->")


def rel(path):
    return path.resolve().relative_to(REPO).as_posix()


def latest_run():
    runs = sorted(p for p in RESULTS.iterdir()
                  if p.is_dir() and (p / "results.jsonl").exists() and not p.name.endswith("-baseline"))
    if not runs:
        sys.exit("report: no run in bench/results")
    return runs[-1]


def readme_block(run, baseline):
    d = rel(run.path)
    marker = f"<!-- run: {d}" + (f" baseline: {rel(baseline.path)}" if baseline else "") + " -->"
    intro = (f"Run [`{d}`]({d}/results.md) ([chart]({d}/chart.png), "
             f"machine in [`machine.txt`]({d}/machine.txt))")
    if baseline:
        b = rel(baseline.path)
        intro += (f"; the last column is the same harness on the build this round started from, "
                  f"same session ([`{b}`]({b}/results.md))")
    header = "| workload | StemeDB /s (p99 ms) | etcd /s (p99) | Redis /s (p99) | StemeDB/etcd | StemeDB/Redis |"
    rule = "|---|---|---|---|---|---|"
    if baseline:
        header += " vs baseline |"
        rule += "---|"
    lines = [BEGIN, marker, intro + ":", "", header, rule]
    for title, s, e, r in rows_of(run):
        def both(label):
            if not label or run.value(label) is None:
                return "n/a"
            p99 = run.value(label, "p99_ms")
            return run.rate(label) + ("" if p99 is None else f" ({p99:.2f})")
        cells = [title, both(s), both(e), both(r), ratio(run.value(s), run.value(e)) if e else "",
                 ratio(run.value(s), run.value(r)) if r else ""]
        if baseline:
            cells.append(ratio(run.value(s), baseline.value(s)))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", run.fio_sentence()]
    if any(k.startswith("wrk ") for k in run.results):
        lines += ["A figure in brackets after `wrk` is the second load generator's, shown where the two "
                  f"differ by more than {WRK_DIFF:.0%} (every point of both: the run's `results.md`)."]
    if run.server_sentence():
        lines += [run.server_sentence()]
    if run.failed():
        lines += ["", "Points with errors in this run: " + ", ".join(run.failed())]
    lines.append(END)
    return "\n".join(lines)


def replace_block(text, block, name):
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        sys.exit(f"report: {name} has no {BEGIN} ... {END} block")
    return text[:start] + block + text[end + len(END):]


def update_docs(run, baseline, check):
    readme = REPO / "README.md"
    text = readme.read_text()
    new = replace_block(text, readme_block(run, baseline), "README.md")
    arch = REPO / "docs" / "architecture.md"
    arch_text = arch.read_text()
    d = rel(run.path)
    new_arch, n = CITE.subn(lambda m: f"{m.group(1)}[`{d}`](../{d}/results.md){m.group(2)}", arch_text)
    if n == 0:
        sys.exit("report: docs/architecture.md has no <!-- bench-run --> ... <!-- /bench-run --> citation")
    if check:
        stale = [name for name, old, fresh in (("README.md", text, new), ("docs/architecture.md", arch_text, new_arch))
                 if old != fresh]
        if stale:
            sys.exit(f"report: {', '.join(stale)} not what {d} renders to; run bench/report.py --readme {d}")
        return
    readme.write_text(new)
    arch.write_text(new_arch)
    print(f"report: README.md and docs/architecture.md now cite {d}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", help="run directory")
    parser.add_argument("--readme", action="store_true", help="update README.md and docs/architecture.md")
    parser.add_argument("--baseline", help="a run of the previous build, same session (--readme)")
    parser.add_argument("--check", action="store_true", help="with --readme: verify instead of writing")
    args = parser.parse_args()
    if not args.readme:
        if not args.run:
            parser.error("RUN_DIR is required")
        write_run_report(Run(args.run))
        return
    if args.check:
        # The run and baseline README.md names, not the newest: a new run
        # does not make the committed table wrong until it is published.
        m = NAMED.search((REPO / "README.md").read_text())
        if not m:
            sys.exit("report: README.md names no run (<!-- run: ... -->)")
        run, baseline = REPO / m.group(1), m.group(2) and REPO / m.group(2)
    else:
        run = Path(args.run) if args.run else latest_run()
        baseline = args.baseline and Path(args.baseline)
    update_docs(Run(run), baseline and Run(baseline), args.check)


if __name__ == "__main__":
    main()
