#!/usr/bin/env python3
"""Markdown report of a bench/dnsperf.sh run: report.py RESULTS.tsv META.txt

RESULTS.tsv has one row per dnsperf run (see dnsperf.sh); the tables show,
per server, list and mix, the median over the repeats, and the spread of
answers per server CPU-second as min-max.
"""

import csv
import statistics
import sys

MIXES = [
    ("allowed", "cached allowed"),
    ("blocked", "blocked"),
    ("mix9010", "90 % allowed / 10 % blocked"),
]


def main() -> int:
    results, meta_path = sys.argv[1], sys.argv[2]
    meta = {}
    with open(meta_path, encoding="utf-8") as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            meta[k] = v
    rows = list(csv.DictReader(open(results, encoding="utf-8"), delimiter="\t"))
    other_max = float(meta.get("other_max", "0.05"))
    all_groups, groups = {}, {}
    for r in rows:
        # A run during which other processes used more than other_max of a
        # CPU is noisy; older result files lack the column.
        r["noisy"] = "yes" if float(r["others_cpu_s"]) > other_max * float(r["wall_s"]) else "no"
        all_groups.setdefault((r["server"], r["list"], r["mix"]), []).append(r)
    for k, g in all_groups.items():
        clean = [r for r in g if r["noisy"] == "no"]
        groups[k] = clean or g

    def med(key, g, conv=float):
        return statistics.median(conv(r[key]) for r in g)

    def summary(server, lst, mix):
        g = groups.get((server, lst, mix))
        if not g:
            return None
        apc = [float(r["answers_per_cpu_s"]) for r in g]
        return {
            "n": len(g),
            "total": len(all_groups[(server, lst, mix)]),
            "qps": med("qps", g),
            "apc": statistics.median(apc),
            "apc_min": min(apc),
            "apc_max": max(apc),
            "util": med("util", g),
            "cutil": med("client_util", g),
            "lost": sum(int(r["lost"]) for r in g),
            "completed": sum(int(r["completed"]) for r in g),
            "lat": med("latency_ms", g),
            "up": max(float(r["upstream_cpu_s"]) for r in g),
            "others": max(float(r["others_cpu_s"]) for r in g),
            "steal": max(float(r["steal_s"]) for r in g),
            "load": max(float(r["load1"]) for r in g),
            "check": "ok" if all(r["check"] == "ok" for r in g) else "BAD",
            "rcodes": g[0]["rcodes"],
            "rbytes": g[0].get("response_bytes") or "?",
        }

    out = []
    w = out.append
    w("## dnsperf: ward vs dnsdist, 1M-entry list")
    w("")
    for k, label in [
        ("date", "date"),
        ("commit", "commit"),
        ("machine", "machine"),
        ("ward", "ward"),
        ("dnsdist", "dnsdist"),
        ("dnsperf", "dnsperf"),
        ("nsd", "upstream"),
        ("list", "list"),
        ("dnsperf_args", "dnsperf"),
        ("repeats", "runs per cell"),
        ("pinning", "pinning"),
    ]:
        if k in meta:
            w(f"- {label}: {meta[k]}")
    w(
        f"- 1-minute load: {meta.get('load_start', '?')} at start, {meta.get('load_end', '?')} at end; "
        f"waited {meta.get('waited_for_quiet_s', '?')} s in total for a quiet machine"
    )
    w("")
    w("| mix | ward QPS | dnsdist QPS | QPS ratio ward/dnsdist | ward answers/CPU-s | dnsdist answers/CPU-s | per-CPU-s ratio ward/dnsdist |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for mix, label in MIXES:
        a, b = summary("ward", "1m", mix), summary("dnsdist", "1m", mix)
        if not a or not b:
            continue
        w(
            f"| {label} | {a['qps']:,.0f} | {b['qps']:,.0f} | {a['qps'] / b['qps']:.2f} "
            f"| {a['apc']:,.0f} | {b['apc']:,.0f} | {a['apc'] / b['apc']:.2f} |"
        )
    e, f = summary("ward", "empty", "allowed"), summary("ward", "1m", "allowed")
    if e and f:
        w("")
        w("| ward, cached allowed | QPS | answers/CPU-s | 1M list / empty list |")
        w("|---|---:|---:|---:|")
        w(f"| empty list | {e['qps']:,.0f} | {e['apc']:,.0f} | |")
        w(f"| 1M list | {f['qps']:,.0f} | {f['apc']:,.0f} | {f['apc'] / e['apc']:.3f} (per CPU-s), {f['qps'] / e['qps']:.3f} (QPS) |")
    w("")
    w(
        "Every cell (medians; answers/CPU-s min-max over the runs; server CPU and dnsperf CPU = their CPU-s / wall-s of the run; "
        f"runs = used/made: a run during which other processes used more than {other_max:g} CPU is left out; "
        "others, steal and load1 are the maxima over the runs used):"
    )
    w("")
    w("| server | list | mix | runs | QPS | answers/CPU-s | min-max | server CPU | dnsperf CPU | lost / completed | latency ms | upstream CPU-s | others CPU-s (max) | steal s (max) | load1 (max) | response bytes | rcodes (first run) | check |")
    w("|---|---|---|---:|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|")
    for server, lst in (("ward", "1m"), ("ward", "empty"), ("dnsdist", "1m")):
        for mix, _ in MIXES:
            s = summary(server, lst, mix)
            if not s:
                continue
            w(
                f"| {server} | {lst} | {mix} | {s['n']}/{s['total']} | {s['qps']:,.0f} | {s['apc']:,.0f} "
                f"| {s['apc_min']:,.0f}-{s['apc_max']:,.0f} | {s['util']:.2f} | {s['cutil']:.2f} | {s['lost']} / {s['completed']:,} "
                f"| {s['lat']:.3f} | {s['up']:.2f} | {s['others']:.2f} | {s['steal']:.2f} | {s['load']:.2f} | {s['rbytes']} "
                f"| {s['rcodes']} | {s['check']} |"
            )
    w("")
    w("| server | ready after start | CPU-s to load | RSS loaded | RSS after warm-up | RSS at end | peak RSS | threads | UDP rcvbuf |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, p in (("ward, 1M list", "ward_1m_"), ("ward, empty list", "ward_empty_"), ("dnsdist, 1M list", "dnsdist_1m_")):
        if p + "ready_s" not in meta:
            continue
        g = lambda k: meta.get(p + k, "?")  # noqa: E731
        w(
            f"| {label} | {g('ready_s')} s | {g('load_cpu_s')} | {g('rss_loaded_mib')} MiB | {g('rss_warm_mib')} MiB "
            f"| {g('rss_end_mib')} MiB | {g('hwm_mib')} MiB | {g('threads')} | {g('rcvbuf')} |"
        )
    print("\n".join(out))
    bad = [k for k, g in groups.items() if any(r["check"] != "ok" for r in g)]
    if bad:
        print(f"\nWARNING: unexpected response codes in {bad}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
