#!/usr/bin/env python3
"""Turn bench/gen-list.py output into what bench/dnsperf.sh feeds the servers.

    prepare.py --source SRC.txt --queries Q.tsv --names 10000 --outdir DIR

Reads the source list (`NAME CATEGORY`, with `=exact` and `*.subtree`
spellings, Unicode labels allowed) and the query file (`CLASS<TAB>NAME`), and
writes to DIR:

  dnsdist-suffix.txt  one A-label name per subtree rule (`NAME` and `*.NAME`),
                      for a dnsdist SuffixMatchNode
  dnsdist-exact.txt   one A-label name per `=NAME` rule, for a DNSNameSet
  q-allowed.txt       dnsperf input, NAMES allowed names (`NAME A`)
  q-blocked.txt       dnsperf input, NAMES names at or under subtree rules
  q-mix9010.txt       dnsperf input, NAMES lines: every tenth line is blocked,
                      the other nine are the first allowed names (all of them
                      are in q-allowed.txt, so a warmed cache holds them)

ward reads the source list itself (and converts Unicode labels to A-labels
with UTS-46); this script converts with Python's IDNA codec. For the
lowercase NFC Vietnamese letters gen-list.py uses both give the same
A-label; bench/dnsperf.sh checks the answers' response codes, which would
expose any difference.
"""

import argparse
import os
import sys


def alabel(name: str) -> str:
    name = name.strip().rstrip(".").lower()
    if name.isascii():
        return name
    return ".".join(
        lab if lab.isascii() else lab.encode("idna").decode("ascii") for lab in name.split(".")
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--names", type=int, default=10_000)
    ap.add_argument("--outdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    p = lambda f: os.path.join(args.outdir, f)  # noqa: E731

    n_suffix = n_exact = 0
    with open(args.source, encoding="utf-8") as src, open(
        p("dnsdist-suffix.txt.tmp"), "w", encoding="ascii"
    ) as suf, open(p("dnsdist-exact.txt.tmp"), "w", encoding="ascii") as exa:
        for line in src:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name = line.split()[0]
            if name.startswith("="):
                exa.write(alabel(name[1:]) + "\n")
                n_exact += 1
            else:
                if name.startswith("*."):
                    name = name[2:]
                suf.write(alabel(name) + "\n")
                n_suffix += 1
    os.replace(p("dnsdist-suffix.txt.tmp"), p("dnsdist-suffix.txt"))
    os.replace(p("dnsdist-exact.txt.tmp"), p("dnsdist-exact.txt"))

    allowed, blocked = [], []
    with open(args.queries, encoding="utf-8") as q:
        for line in q:
            cls, name = line.rstrip("\n").split("\t")
            if cls == "allowed" and len(allowed) < args.names:
                allowed.append(alabel(name))
            elif cls == "blocked" and len(blocked) < args.names:
                blocked.append(alabel(name))
    if len(allowed) < args.names or len(blocked) < args.names:
        sys.exit(f"query file has {len(allowed)} allowed and {len(blocked)} blocked names; need {args.names} each")
    if len(set(allowed)) != len(allowed) or len(set(blocked)) != len(blocked):
        print("warning: repeated names in a query class", file=sys.stderr)

    def write(fname, names):
        with open(p(fname), "w", encoding="ascii") as f:
            f.writelines(f"{n} A\n" for n in names)

    write("q-allowed.txt", allowed)
    write("q-blocked.txt", blocked)
    mix, a, b = [], 0, 0
    for i in range(args.names):
        if i % 10 == 9:
            mix.append(blocked[b])
            b += 1
        else:
            mix.append(allowed[a])
            a += 1
    write("q-mix9010.txt", mix)
    print(
        f"prepare: {n_suffix} subtree + {n_exact} exact rules for dnsdist; "
        f"{len(allowed)} allowed, {len(blocked)} blocked, {len(mix)} mixed ({b} blocked) queries",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
