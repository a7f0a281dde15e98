#!/usr/bin/env python3
"""Markdown report of a bench/dnsperf.sh run: report.py RESULTS.tsv META.txt

RESULTS.tsv has one row per dnsperf run (see dnsperf.sh); the tables show,
per cell, server, list, mix and UDP workers, the median over the repeats,
and the spread of answers per server CPU-second as min-max. Rows of older
runs, without the cell column, count as the main cell.

    report.py --latency DNSPERF-V-OUTPUT

prints `P50 P99 P99.9 ANSWERED LOST` (microseconds; nearest-rank
percentiles over the answered queries) from the per-query lines of
`dnsperf -v`: `> RCODE NAME TYPE SECONDS`, or `> T NAME TYPE` for a query
that timed out (`I`: interrupted at the end of the run).
"""

import csv
import math
import statistics
import sys

MIXES = [
    ("allowed", "cached allowed"),
    ("blocked", "blocked"),
    ("mix9010", "90 % allowed / 10 % blocked"),
]
SERVERS = [("ward", "ward"), ("dnsdist", "dnsdist"), ("unbound", "Unbound")]
# Goals (from the issue): ward's answers per CPU-second over dnsdist's.
MIX_GOALS = {"allowed": 1.3, "blocked": 2.0, "mix9010": 1.5}
BIG_GOAL = 0.97
RSS_GOAL = 0.10
SWAP_RSS_GOAL = 1.10
ACTIVATION_GOAL = 1.0


def latency(path: str) -> int:
    lat, lost = [], 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("> "):
                continue
            parts = line.split()
            if len(parts) >= 2 and parts[1] in ("T", "I"):
                lost += 1
                continue
            try:
                lat.append(float(parts[-1]))
            except (ValueError, IndexError):
                continue
    if not lat:
        print("- - - 0", lost)
        return 0
    lat.sort()

    def pct(p):
        # Nearest rank: the smallest latency with at least p of the answers
        # at or below it.
        return lat[max(0, math.ceil(p * len(lat)) - 1)] * 1e6

    print(f"{pct(0.50):.0f} {pct(0.99):.0f} {pct(0.999):.0f} {len(lat)} {lost}")
    return 0


def fnum(x, fmt="{:,.0f}"):
    return "–" if x is None else fmt.format(x)


def ratio(a, b, fmt="{:.2f}"):
    if a is None or b is None or b == 0:
        return "–"
    return fmt.format(a / b)


def verdict(value, target, at_most=False, strict=False):
    """met / not met: value >= target, or <= with at_most (< with strict)."""
    if value is None:
        return "n/a"
    if at_most:
        ok = value < target if strict else value <= target
    else:
        ok = value > target if strict else value >= target
    return "met" if ok else "not met"


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--latency":
        return latency(sys.argv[2])
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
        r["cell"] = r.get("cell") or "main"
        r["workers"] = r.get("workers") or "-"
        key = (r["cell"], r["server"], r["list"], r["mix"], r["workers"])
        all_groups.setdefault(key, []).append(r)
    for k, g in all_groups.items():
        clean = [r for r in g if r["noisy"] == "no"]
        groups[k] = clean or g

    def med(key, g):
        vals = [num(r.get(key)) for r in g]
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    def find(cell, server, lst, mix, workers=None):
        for k in groups:
            if k[:4] == (cell, server, lst, mix) and (workers is None or k[4] == workers):
                return k
        return None

    def summary(cell, server, lst, mix, workers=None):
        k = find(cell, server, lst, mix, workers)
        if k is None:
            return None
        g = groups[k]
        apc = [float(r["answers_per_cpu_s"]) for r in g]
        return {
            "key": k,
            "n": len(g),
            "total": len(all_groups[k]),
            "qps": med("qps", g),
            "apc": statistics.median(apc),
            "apc_min": min(apc),
            "apc_max": max(apc),
            "util": med("util", g),
            "cutil": med("client_util", g),
            "lost": sum(int(r["lost"]) for r in g),
            "completed": sum(int(r["completed"]) for r in g),
            "lat": med("latency_ms", g),
            "p50": med("p50_us", g),
            "p99": med("p99_us", g),
            "p999": med("p999_us", g),
            "up": max(float(r["upstream_cpu_s"]) for r in g),
            "others": max(float(r["others_cpu_s"]) for r in g),
            "steal": max(float(r["steal_s"]) for r in g),
            "load": max(float(r["load1"]) for r in g),
            "check": "ok" if all(r["check"] == "ok" for r in g) else "BAD",
            "rcodes": g[0]["rcodes"],
            "rbytes": g[0].get("response_bytes") or "?",
        }

    def get(s, k):
        return None if s is None else s[k]

    L = meta.get("entries_label", "1M")
    B = meta.get("entries_big_label", "10M")
    has_unbound = any(k[1] == "unbound" for k in groups)
    out = []
    w = out.append
    w(f"## dnsperf: ward vs dnsdist{' and Unbound' if has_unbound else ''}, {L}-entry list")
    w("")
    for k, label in [
        ("date", "date"),
        ("commit", "commit"),
        ("machine", "machine"),
        ("ward", "ward"),
        ("dnsdist", "dnsdist"),
        ("unbound", "Unbound"),
        ("dnsperf", "dnsperf"),
        ("nsd", "upstream"),
        ("list", "list"),
        ("unbound_list", "list for Unbound"),
        ("big_list", "big list"),
        ("dnsperf_args", "dnsperf"),
        ("lat_args", "dnsperf, latency cell"),
        ("scale_args", "dnsperf, scale cell"),
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

    # ------------------------------------------------------------ figures
    main = {(s, m): summary("main", s, "1m", m) for s, _ in SERVERS for m, _ in MIXES}
    lat = {s: summary("lat", s, "1m", "mix9010") for s, _ in SERVERS}
    big = summary("big", "ward", "big", "allowed")
    big_empty = summary("big", "ward", "empty", "allowed")
    mf = lambda k: num(meta.get(k))  # noqa: E731
    rss_ward, rss_dd, rss_ub = mf("ward_1m_vmrss_warm_mib"), mf("dnsdist_1m_vmrss_warm_mib"), mf("unbound_1m_vmrss_warm_mib")
    # Older meta files: VmRSS after warm-up in whole MiB only.
    rss_ward = rss_ward if rss_ward is not None else mf("ward_1m_rss_warm_mib")
    rss_dd = rss_dd if rss_dd is not None else mf("dnsdist_1m_rss_warm_mib")
    rss_ub = rss_ub if rss_ub is not None else mf("unbound_1m_rss_warm_mib")
    swap_before, swap_after = mf("swap_vmrss_before_mib"), mf("swap_vmrss_after_mib")
    activation = mf("swap_activation_s")

    def apc_ratio(a, b):
        return None if a is None or b is None else a["apc"] / b["apc"]

    # ------------------------------------------------------------ goals
    w("### Goals")
    w("")
    w("| goal | figure | result |")
    w("|---|---:|---|")
    for mix, label in MIXES:
        r = apc_ratio(main[("ward", mix)], main[("dnsdist", mix)])
        w(f"| {label}: ward ≥ {MIX_GOALS[mix]:g} × dnsdist (answers/CPU-s) | {fnum(r, '{:.3f}')} | {verdict(r, MIX_GOALS[mix])} |")
    r = apc_ratio(big, big_empty)
    w(f"| cached allowed: ward {B} list / empty list ≥ {BIG_GOAL:g} (answers/CPU-s) | {fnum(r, '{:.3f}')} | {verdict(r, BIG_GOAL)} |")
    lw, ld = get(lat["ward"], "p99"), get(lat["dnsdist"], "p99")
    r = None if lw is None or ld is None else lw / ld
    w(
        f"| 90/10 at {meta.get('lat_qps', '?')} QPS: ward p99 ≤ dnsdist p99 | "
        f"{fnum(lw)} µs vs {fnum(ld)} µs | {verdict(r, 1.0, at_most=True)} |"
    )
    r = None if rss_ward is None or not rss_dd else rss_ward / rss_dd
    w(f"| RSS after warm-up, {L} list: ward ≤ dnsdist / 10 | {fnum(rss_ward, '{:.0f}')} / {fnum(rss_dd, '{:.0f}')} MiB = {fnum(r, '{:.3f}')} | {verdict(r, RSS_GOAL, at_most=True)} |")
    r = None if swap_before is None or swap_after is None else swap_after / swap_before
    w(f"| swap of the {B} list adds < 10 % RSS (VmRSS 5 s after / before) | {fnum(r, '{:.3f}')} | {verdict(r, SWAP_RSS_GOAL, at_most=True, strict=True)} |")
    w(f"| swap of the {B} list: activation < {ACTIVATION_GOAL:g} s (SIGHUP to serial=2 answered) | {fnum(activation, '{:.3f} s')} | {verdict(activation, ACTIVATION_GOAL, at_most=True, strict=True)} |")
    w("")

    # ------------------------------------------------------------ main
    w(f"### Throughput: one CPU each, {L} list")
    w("")
    w(
        "Saturated runs (dnsperf -q as above), medians. p50/p99: the latency cell "
        f"(90/10 only, at {meta.get('lat_qps', '?')} QPS). Ratios: ward ÷ the server named; goals on answers/CPU-s."
    )
    w("")
    w("| mix | server | QPS | answers/CPU-s | p50 µs | p99 µs | ward/dnsdist QPS | ward/dnsdist per CPU-s | ward/Unbound QPS | ward/Unbound per CPU-s | goal vs dnsdist |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for mix, label in MIXES:
        wd, dd, ub = main[("ward", mix)], main[("dnsdist", mix)], main[("unbound", mix)]
        for server, sname in SERVERS:
            s = main[(server, mix)]
            if s is None:
                continue
            p = lat[server] if mix == "mix9010" else None
            p50, p99 = fnum(get(p, "p50")), fnum(get(p, "p99"))
            if server == "ward":
                r = apc_ratio(wd, dd)
                cells = [
                    ratio(get(wd, "qps"), get(dd, "qps")),
                    fnum(r, "{:.2f}"),
                    ratio(get(wd, "qps"), get(ub, "qps")),
                    fnum(apc_ratio(wd, ub), "{:.2f}"),
                    f"≥ {MIX_GOALS[mix]:g}: {verdict(r, MIX_GOALS[mix])}",
                ]
            else:
                cells = [""] * 5
            w(f"| {label} | {sname} | {s['qps']:,.0f} | {s['apc']:,.0f} | {p50} | {p99} | " + " | ".join(cells) + " |")
    e, f = summary("main", "ward", "empty", "allowed"), main[("ward", "allowed")]
    if e and f:
        w("")
        w(f"| ward, cached allowed | QPS | answers/CPU-s | {L} list / empty list |")
        w("|---|---:|---:|---:|")
        w(f"| empty list | {e['qps']:,.0f} | {e['apc']:,.0f} | |")
        w(f"| {L} list | {f['qps']:,.0f} | {f['apc']:,.0f} | {f['apc'] / e['apc']:.3f} (per CPU-s), {f['qps'] / e['qps']:.3f} (QPS) |")
    w("")
    school = [(mix, label, summary("main", "ward", "school", mix)) for mix, label in MIXES]
    if any(s for _, _, s in school):
        w(f"### School profiles: ward with 50 profiles over 10,000 networks and 3 extra lists, {L} national list")
        w("")
        w("Every query from a profiled client (127.0.0.1 is in one profile). Medians of the main cell.")
        w("")
        w("| mix | QPS | answers/CPU-s | school ÷ ward alone, per CPU-s | school ÷ dnsdist, per CPU-s | school ÷ dnsdist, QPS |")
        w("|---|---:|---:|---:|---:|---:|")
        for mix, label, s in school:
            if not s:
                continue
            wd, dd = main[("ward", mix)], main[("dnsdist", mix)]
            w(
                f"| {label} | {s['qps']:,.0f} | {s['apc']:,.0f} | {fnum(apc_ratio(s, wd), '{:.3f}')} "
                f"| {fnum(apc_ratio(s, dd), '{:.2f}')} | {ratio(s['qps'], get(dd, 'qps'))} |"
            )
        w("")

    # ------------------------------------------------------------ big
    w(f"### {B} list against the empty list (ward, one CPU, cached allowed)")
    w("")
    if big and big_empty:
        w(
            f"Both on the same {meta.get('entries_big', '?')}-list query file (names allowed under the {B} list), "
            "runs interleaved, medians."
        )
        w("")
        w(f"| ward | QPS | answers/CPU-s | min-max | {B} ÷ empty, per CPU-s | {B} ÷ empty, QPS | goal |")
        w("|---|---:|---:|---|---:|---:|---|")
        w(f"| empty list | {big_empty['qps']:,.0f} | {big_empty['apc']:,.0f} | {big_empty['apc_min']:,.0f}-{big_empty['apc_max']:,.0f} | | | |")
        r = apc_ratio(big, big_empty)
        w(
            f"| {B} list | {big['qps']:,.0f} | {big['apc']:,.0f} | {big['apc_min']:,.0f}-{big['apc_max']:,.0f} | {r:.3f} "
            f"| {big['qps'] / big_empty['qps']:.3f} | ≥ {BIG_GOAL:g}: {verdict(r, BIG_GOAL)} |"
        )
        w("")
        w(
            f"ward with the {B} list: first answer {meta.get('ward_big_ready_s', '?')} s after start "
            f"({meta.get('ward_big_load_cpu_s', '?')} CPU-s), VmRSS {meta.get('ward_big_vmrss_warm_mib', '?')} MiB after warm-up "
            f"(RssAnon {meta.get('ward_big_rssanon_warm_mib', '?')}, RssFile {meta.get('ward_big_rssfile_warm_mib', '?')} MiB)."
        )
    else:
        w("Not measured (ENTRIES_BIG=0).")
    w("")

    # ------------------------------------------------------------ latency
    w(f"### Latency at a fixed rate (90/10, {meta.get('lat_qps', '?')} QPS offered, one CPU each)")
    w("")
    if any(lat.values()):
        w(
            "Per-query latencies from `dnsperf -v` (nearest-rank percentiles over the answered queries of each run; "
            "the table shows the median over the runs); lost: queries dnsperf counted lost, summed over the runs used."
        )
        w("")
        w("| server | runs | answered QPS | p50 µs | p99 µs | p99.9 µs | mean ms | lost / completed | server CPU | p99 goal (≤ dnsdist) |")
        w("|---|---:|---:|---:|---:|---:|---:|---|---:|---|")
        for server, sname in SERVERS:
            s = lat[server]
            if s is None:
                continue
            goal = ""
            if server == "ward":
                goal = verdict(None if s["p99"] is None or ld is None else s["p99"] / ld, 1.0, at_most=True)
            w(
                f"| {sname} | {s['n']}/{s['total']} | {s['qps']:,.0f} | {fnum(s['p50'])} | {fnum(s['p99'])} | {fnum(s['p999'])} "
                f"| {fnum(s['lat'], '{:.3f}')} | {s['lost']} / {s['completed']:,} | {fnum(s['util'], '{:.2f}')} | {goal} |"
            )
    else:
        w("Not measured.")
    w("")

    # ------------------------------------------------------------ memory
    w("### Memory, load time and list swap")
    w("")
    w(
        "Ready: from start to the first NOERROR answer (polled with dig every 20 ms). "
        "VmRSS, RssAnon and RssFile from /proc/PID/status after the cache warm-up; RSS at end and peak (VmHWM) after the runs."
    )
    w("")
    w("| server | ready after start | CPU-s to load | RSS loaded | VmRSS after warm-up | RssAnon | RssFile | RSS at end | peak RSS | threads | UDP sockets | UDP rcvbuf |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, p in (
        (f"ward, {L} list", "ward_1m_"),
        ("ward, empty list", "ward_empty_"),
        (f"ward, {L} list, 50 school profiles", "ward_school_"),
        (f"ward, {B} list", "ward_big_"),
        (f"dnsdist, {L} list", "dnsdist_1m_"),
        (f"Unbound, {L} list", "unbound_1m_"),
        (f"ward, {L} list, 1 UDP worker, 2 CPUs (scale)", "ward_w1_"),
        (f"ward, {L} list, 2 UDP workers, 2 CPUs (scale)", "ward_w2_"),
    ):
        if p + "ready_s" not in meta:
            continue
        g = lambda k: meta.get(p + k, "?")  # noqa: E731
        w(
            f"| {label} | {g('ready_s')} s | {g('load_cpu_s')} | {g('rss_loaded_mib')} MiB | {meta.get(p + 'vmrss_warm_mib', g('rss_warm_mib'))} MiB "
            f"| {g('rssanon_warm_mib')} MiB | {g('rssfile_warm_mib')} MiB | {g('rss_end_mib')} MiB | {g('hwm_mib')} MiB "
            f"| {g('threads')} | {g('udp_sockets')} | {g('rcvbuf')} |"
        )
    w("")
    w(f"| VmRSS after warm-up, {L} list | ward | dnsdist | Unbound | ward / dnsdist | goal | ward / Unbound |")
    w("|---|---:|---:|---:|---:|---|---:|")
    r = None if rss_ward is None or not rss_dd else rss_ward / rss_dd
    w(
        f"| MiB | {fnum(rss_ward, '{:.1f}')} | {fnum(rss_dd, '{:.1f}')} | {fnum(rss_ub, '{:.1f}')} | {fnum(r, '{:.3f}')} "
        f"| ≤ {RSS_GOAL:g}: {verdict(r, RSS_GOAL, at_most=True)} | {ratio(rss_ward, rss_ub, '{:.3f}')} |"
    )
    w("")
    if "swap_activation_s" in meta:
        g = lambda k: meta.get("swap_" + k, "?")  # noqa: E731
        r = None if swap_before is None or swap_after is None else swap_after / swap_before
        w(
            f"Swap: serial 2 of the {B} list copied next to ward's list file and renamed over it, then SIGHUP; "
            f"activation = SIGHUP until `dig CH TXT list.ward` answers serial=2 (polled every 10 ms, {g('polls')} polls; "
            "one dig takes a few ms, so read it to ±20 ms). VmHWM was reset (clear_refs) just before the signal."
        )
        w("")
        w("| ward, list swap | activation | VmRSS before | RssAnon / RssFile before | VmHWM during | VmRSS 5 s after | RssAnon / RssFile after | after / before | goals |")
        w("|---|---:|---:|---|---:|---:|---|---:|---|")
        w(
            f"| {B} list, serial 1 → 2 | {activation:.3f} s | {g('vmrss_before_mib')} MiB | {g('rssanon_before_mib')} / {g('rssfile_before_mib')} MiB "
            f"| {g('hwm_mib')} MiB | {g('vmrss_after_mib')} MiB | {g('rssanon_after_mib')} / {g('rssfile_after_mib')} MiB | {fnum(r, '{:.3f}')} "
            f"| activation < {ACTIVATION_GOAL:g} s: {verdict(activation, ACTIVATION_GOAL, at_most=True, strict=True)}; "
            f"after < {SWAP_RSS_GOAL:.2f} × before: {verdict(r, SWAP_RSS_GOAL, at_most=True, strict=True)} |"
        )
        w("")
        w(f"After the swap: {g('answers_after')}; ward logged `{g('log')}`.")
    else:
        w("No swap (ENTRIES_BIG=0).")
    w("")

    # ------------------------------------------------------------ scale
    w("### Scaling with cores (ward, 2 CPUs shared with dnsperf)")
    w("")
    sc = {(m, wk): summary("scale", "ward", "1m", m, wk) for m in ("allowed", "blocked") for wk in ("1", "2")}
    if any(sc.values()):
        w(
            "ward with udp_workers = 1 and = 2, both pinned to the same 2 CPUs as dnsperf (which competes with it for them), "
            "runs interleaved, medians. Scaling: answers/CPU-s near 1.0 (2 ÷ 1) with a higher QPS."
        )
        w("")
        w("| mix | QPS, 1 worker | QPS, 2 workers | QPS 2 ÷ 1 | answers/CPU-s, 1 worker | answers/CPU-s, 2 workers | per CPU-s 2 ÷ 1 | ward CPUs used, 1 / 2 | dnsperf CPUs, 1 / 2 | lost |")
        w("|---|---:|---:|---:|---:|---:|---:|---|---|---:|")
        for mix, label in MIXES:
            a, b = sc.get((mix, "1")), sc.get((mix, "2"))
            if not a or not b:
                continue
            w(
                f"| {label} | {a['qps']:,.0f} | {b['qps']:,.0f} | {b['qps'] / a['qps']:.2f} | {a['apc']:,.0f} | {b['apc']:,.0f} "
                f"| {b['apc'] / a['apc']:.2f} | {a['util']:.2f} / {b['util']:.2f} | {a['cutil']:.2f} / {b['cutil']:.2f} | {a['lost'] + b['lost']} |"
            )
        for k in ("ward_w1_udp_log", "ward_w2_udp_log"):
            if k in meta:
                w(f"\n- ward logged: `{meta[k]}`")
    else:
        w("Not measured.")
    w("")

    # ------------------------------------------------------------ every cell
    w(
        "Every cell (medians; answers/CPU-s min-max over the runs; server CPU and dnsperf CPU = their CPU-s / wall-s of the run; "
        f"runs = used/made: a run during which other processes used more than {other_max:g} CPU is left out; "
        "others, steal and load1 are the maxima over the runs used; p50/p99/p99.9 only in the latency cell):"
    )
    w("")
    w("| cell | server | list | mix | UDP workers | runs | QPS | answers/CPU-s | min-max | server CPU | dnsperf CPU | lost / completed | latency ms | p50/p99/p99.9 µs | upstream CPU-s | others CPU-s (max) | steal s (max) | load1 (max) | response bytes | rcodes (first run) | check |")
    w("|---|---|---|---|---|---:|---:|---:|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---|---|")
    order = {"main": 0, "big": 1, "lat": 2, "scale": 3}
    sorder = {"ward": 0, "dnsdist": 1, "unbound": 2}
    lorder = {"1m": 0, "empty": 1, "big": 2, "school": 3}
    morder = {m: i for i, (m, _) in enumerate(MIXES)}
    for k in sorted(groups, key=lambda k: (order.get(k[0], 9), sorder.get(k[1], 9), lorder.get(k[2], 9), morder.get(k[3], 9), k[4])):
        s = summary(*k)
        cell, server, lst, mix, wk = k
        pl = "–" if s["p50"] is None else f"{s['p50']:.0f}/{s['p99']:.0f}/{s['p999']:.0f}"
        w(
            f"| {cell} | {server} | {lst} | {mix} | {wk} | {s['n']}/{s['total']} | {s['qps']:,.0f} | {s['apc']:,.0f} "
            f"| {s['apc_min']:,.0f}-{s['apc_max']:,.0f} | {fnum(s['util'], '{:.2f}')} | {fnum(s['cutil'], '{:.2f}')} | {s['lost']} / {s['completed']:,} "
            f"| {fnum(s['lat'], '{:.3f}')} | {pl} | {s['up']:.2f} | {s['others']:.2f} | {s['steal']:.2f} | {s['load']:.2f} | {s['rbytes']} "
            f"| {s['rcodes']} | {s['check']} |"
        )
    print("\n".join(out))
    bad = [k for k, g in groups.items() if any(r["check"] != "ok" for r in g)]
    if bad:
        print(f"\nWARNING: unexpected response codes in {bad}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
