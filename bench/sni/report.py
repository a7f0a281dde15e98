#!/usr/bin/env python3
"""Markdown tables from bench/sni.sh's raw result lines and meta file.

    report.py bench/out/sni/results.txt bench/out/sni/meta.txt

Each cell is the median over the repeats, with the range (min-max) when
there is more than one; runs marked noisy (other processes busy) are left
out when a quiet run of the same proxy and test exists.
"""

import statistics
import sys

NAMES = {
    "ward-splice": "ward (splice)",
    "ward-copy": "ward (copy)",
    "haproxy": "HAProxy",
    "haproxy-splice": "HAProxy (splice)",
    "nginx": "nginx",
}
ORDER = list(NAMES)
GIB = float(1 << 30)


def parse(path):
    runs = []
    for line in open(path):
        if not line.startswith("result "):
            continue
        f = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        runs.append(f)
    return runs


def meta(path):
    m = {}
    for line in open(path):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            m[k] = v
    return m


def values(runs, proxy, test, key, scale=1.0):
    rs = [r for r in runs if r["proxy"] == proxy and r["test"] == test and r.get("check") == "ok"]
    quiet = [r for r in rs if r.get("noisy") != "yes"]
    rs = quiet or rs
    out = []
    for r in rs:
        try:
            v = float(r[key]) * scale
        except (KeyError, ValueError):
            continue
        if v == v:  # not NaN
            out.append(v)
    return out


def fmt(v, digits):
    if v >= 1e5 and digits == 0:
        return f"{v:,.0f}".replace(",", " ")
    return f"{v:.{digits}f}"


def cell(vs, digits=0):
    if not vs:
        return "–"
    med = statistics.median(vs)
    if len(vs) == 1:
        return fmt(med, digits)
    return f"{fmt(med, digits)} ({fmt(min(vs), digits)}–{fmt(max(vs), digits)})"


def med(vs):
    return statistics.median(vs) if vs else None


def main():
    runs = parse(sys.argv[1])
    m = meta(sys.argv[2])
    proxies = [p for p in ORDER if any(r["proxy"] == p for r in runs)]

    cols = [
        ("conn/s blocked", "blocked", "rate", 1.0, 0),
        ("conn/s allowed", "allowed", "rate", 1.0, 0),
        ("p99 ms allowed", "allowed", "p99_ms", 1.0, 1),
        ("p50 ms, 1 at a time", "single", "p50_ms", 1.0, 3),
        ("p99 ms, 1 at a time", "single", "p99_ms", 1.0, 3),
        ("1 GiB: GiB/s", "bulk", "gib_per_s", 1.0, 2),
        ("GiB per proxy CPU-s", "bulk", "gib_per_cpu_s", 1.0, 2),
        ("blocked conns per proxy CPU-s", "blocked", "conns_per_cpu_s", 1.0, 0),
        ("allowed conns per proxy CPU-s", "allowed", "conns_per_cpu_s", 1.0, 0),
        ("proxy CPU use, allowed", "allowed", "proxy_util", 1.0, 2),
    ]
    print(f"SNI filter benchmark, {m.get('date', '?')}, commit {m.get('commit', '?')}")
    print()
    print("| proxy | " + " | ".join(c[0] for c in cols) + " | RSS MiB idle / end / peak |")
    print("|---|" + "---:|" * (len(cols) + 1))
    table = {}
    for p in proxies:
        row = []
        for name, test, key, scale, digits in cols:
            vs = values(runs, p, test, key, scale)
            table[(p, name)] = med(vs)
            row.append(cell(vs, digits))
        rss = [m.get(f"{k}_kib_{p}") for k in ("rss_idle", "rss_end", "hwm")]
        table[(p, "rss")] = float(rss[1]) / 1024 if rss[1] else None
        row.append(" / ".join(f"{float(x) / 1024:.1f}" if x else "?" for x in rss))
        print(f"| {NAMES[p]} | " + " | ".join(row) + " |")

    pairs = [
        ("ward-splice", "haproxy"),
        ("ward-splice", "haproxy-splice"),
        ("ward-splice", "nginx"),
        ("ward-copy", "haproxy"),
        ("ward-copy", "nginx"),
        ("ward-splice", "ward-copy"),
    ]
    pairs = [(a, b) for a, b in pairs if a in proxies and b in proxies]
    if pairs:
        print()
        print("Ratios of the medians (> 1: the first is faster / does more per CPU-second;")
        print("for latency and RSS, < 1 is better):")
        print()
        print("| ratio | " + " | ".join(c[0] for c in cols) + " | RSS at end |")
        print("|---|" + "---:|" * (len(cols) + 1))
        for a, b in pairs:
            row = []
            for name, *_ in cols + [("rss",)]:
                x, y = table.get((a, name)), table.get((b, name))
                row.append(f"{x / y:.2f}" if x is not None and y else "–")
            print(f"| {NAMES[a]} / {NAMES[b]} | " + " | ".join(row) + " |")

    print()
    print("Per run: how connections ended, proxy CPU use, others' CPU use")
    print()
    print("| proxy | test | rep | result | conns | ended | proxy CPU | others CPU-s | load | check |")
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---|")
    for r in sorted(runs, key=lambda r: (ORDER.index(r["proxy"]), r["test"], int(r["rep"]))):
        if r["test"] == "bulk":
            res = f"{float(r.get('gib_per_s', 'nan')):.2f} GiB/s"
            conns = "1"
            ended = f"{int(r.get('bytes', 0)) / GIB:.2f} GiB"
        else:
            res = f"{float(r.get('rate', 'nan')):.0f}/s"
            conns = r.get("conns", "?")
            ended = ", ".join(
                f"{k} {r[k]}"
                for k in ("alert", "closed", "data", "short", "reset", "connect_error", "timeout", "other")
                if r.get(k, "0") != "0"
            )
        noisy = " (noisy)" if r.get("noisy") == "yes" else ""
        print(
            f"| {NAMES[r['proxy']]} | {r['test']} | {r['rep']} | {res} | {conns} | {ended} | "
            f"{r.get('proxy_util', '?')} | {r.get('others_cpu_s', '?')}{noisy} | {r.get('load1', '?')} | {r.get('check', '?')} |"
        )
    print()
    for k in ("machine", "ward", "haproxy", "nginx", "args", "pinning", "load_start", "load_end", "waited_for_quiet_s"):
        if k in m:
            print(f"* {k}: {m[k]}")


if __name__ == "__main__":
    main()
