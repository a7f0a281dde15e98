#!/usr/bin/env python3
"""Prints bench/encrypted.sh's results as a markdown table.

table.py --results results.tsv --idle idle.tsv --lat-qps N --meta TEXT

One row per server and transport: answers per server CPU-second on cached
(allowed) and blocked names (medians over the repeats), p50 and p99 latency
at a fixed rate, MiB of VmRSS per 10,000 idle connections; then ward's
figures over dnsdist's (the issue's goal: at least dnsdist's on each, i.e.
a ratio of 1 or more for answers, 1 or less for latency and memory).
"""

import argparse
import csv
import statistics


def median(rows, key):
    vals = []
    for r in rows:
        try:
            vals.append(float(r[key]))
        except (KeyError, ValueError):
            pass
    return statistics.median(vals) if vals else None


def fmt(x, f="{:,.0f}"):
    return "n/a" if x is None else f.format(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--idle", required=True)
    ap.add_argument("--lat-qps", required=True)
    ap.add_argument("--meta", default="")
    a = ap.parse_args()
    with open(a.results, encoding="utf-8") as f:
        runs = list(csv.DictReader(f, delimiter="\t"))
    with open(a.idle, encoding="utf-8") as f:
        idle = list(csv.DictReader(f, delimiter="\t"))
    cells = {}
    for server in ("ward", "dnsdist"):
        for mode in ("dot", "doh"):
            sel = lambda cell: [
                r for r in runs if r["server"] == server and r["mode"] == mode and r["cell"] == cell
            ]
            mem = [r for r in idle if r["server"] == server and r["mode"] == mode]
            cells[server, mode] = {
                "cached": median(sel("cached"), "answers_per_cpu_s"),
                "blocked": median(sel("blocked"), "answers_per_cpu_s"),
                "p50": median(sel("lat"), "p50_us"),
                "p99": median(sel("lat"), "p99_us"),
                "mem": median(mem, "mib_per_10k"),
                "reps": len(sel("cached")),
            }
    print("## Encrypted DNS: ward against dnsdist\n")
    if a.meta:
        print(a.meta + "\n")
    print(
        f"| server | transport | cached answers/CPU-s | blocked answers/CPU-s | p50 µs | p99 µs (at {a.lat_qps} QPS) | MiB per 10k idle connections | runs |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (server, mode), c in cells.items():
        print(
            f"| {server} | {mode} | {fmt(c['cached'])} | {fmt(c['blocked'])} | {fmt(c['p50'])} | {fmt(c['p99'])} | {fmt(c['mem'], '{:.1f}')} | {c['reps']} |"
        )
    print("\nward / dnsdist (goal: answers ≥ 1, latency and memory ≤ 1):\n")
    print("| transport | cached | blocked | p99 | memory |")
    print("|---|---:|---:|---:|---:|")
    for mode in ("dot", "doh"):
        w, d = cells["ward", mode], cells["dnsdist", mode]

        def ratio(k):
            if w[k] is None or d[k] in (None, 0):
                return "n/a"
            return f"{w[k] / d[k]:.2f}"

        print(f"| {mode} | {ratio('cached')} | {ratio('blocked')} | {ratio('p99')} | {ratio('mem')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
