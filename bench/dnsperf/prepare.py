#!/usr/bin/env python3
"""Turn bench/gen-list.py output into what bench/dnsperf.sh feeds the servers.

    prepare.py --source SRC.txt --queries Q.tsv --names 10000 --outdir DIR
    prepare.py --queries Q-BIG.tsv --names 10000 --outdir DIR --tag=-big

Reads the source list (`NAME CATEGORY`, with `=exact` and `*.subtree`
spellings, Unicode labels allowed) and the query file (`CLASS<TAB>NAME`), and
writes to DIR (TAG, default empty, is appended to the query files' names;
without --source only the query files are written):

  dnsdist-suffix.txt  one A-label name per subtree rule (`NAME` and `*.NAME`),
                      for a dnsdist SuffixMatchNode
  dnsdist-exact.txt   one A-label name per `=NAME` rule, for a DNSNameSet
  unbound-zones.conf  the same list for Unbound: one
                      `local-zone: "NAME." always_nxdomain` per rule (see
                      below for the exact rules)
  prepare.meta        key=value facts for the benchmark's meta file
  q-allowed.txt       dnsperf input, NAMES allowed names (`NAME A`)
  q-blocked.txt       dnsperf input, NAMES names at or under subtree rules
  q-mix9010.txt       dnsperf input, NAMES lines: every tenth line is blocked,
                      the other nine are the first allowed names (all of them
                      are in q-allowed.txt, so a warmed cache holds them)

Unbound has no local-zone type that answers NXDOMAIN for exactly one name
and resolves its subdomains normally (`always_nxdomain`, `static`, `deny`,
`refuse` all cover the subtree; RPZ could, but is a different engine). So an
`=NAME` rule becomes `local-zone: "NAME." always_nxdomain` too, which also
blocks NAME's subdomains. That is the same answer as ward and dnsdist give
for every query the benchmark sends only if no query name lies strictly
under an exact rule: this script checks every query name against the exact
rules and fails if one does (gen-list.py gives every entry and every allowed
name its own base label, so none does).

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
    ap.add_argument("--source")
    ap.add_argument("--queries", required=True)
    ap.add_argument("--names", type=int, default=10_000)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--tag", default="", help="suffix of the query files' names")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    p = lambda f: os.path.join(args.outdir, f)  # noqa: E731

    n_suffix = n_exact = 0
    exact, subtree = set(), set()
    if args.source:
        with open(args.source, encoding="utf-8") as src, open(
            p("dnsdist-suffix.txt.tmp"), "w", encoding="ascii"
        ) as suf, open(p("dnsdist-exact.txt.tmp"), "w", encoding="ascii") as exa, open(
            p("unbound-zones.conf.tmp"), "w", encoding="ascii"
        ) as unb:
            unb.write(
                "# bench/dnsperf/prepare.py: the benchmark list for Unbound.\n"
                "# Subtree rules (NAME, *.NAME) and exact rules (=NAME) alike are\n"
                "# always_nxdomain zones, which cover NAME and its subtree: Unbound has\n"
                "# no exact-name NXDOMAIN type. prepare.py checked that no query name of\n"
                "# the benchmark lies under an exact rule, so the answers to the\n"
                "# benchmark's queries are the same as ward's and dnsdist's.\n"
                "server:\n"
            )
            for line in src:
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                name = line.split()[0]
                if name.startswith("="):
                    a = alabel(name[1:])
                    exa.write(a + "\n")
                    exact.add(a)
                    n_exact += 1
                else:
                    if name.startswith("*."):
                        name = name[2:]
                    a = alabel(name)
                    suf.write(a + "\n")
                    subtree.add(a)
                    n_suffix += 1
                unb.write(f'local-zone: "{a}." always_nxdomain\n')
        os.replace(p("dnsdist-suffix.txt.tmp"), p("dnsdist-suffix.txt"))
        os.replace(p("dnsdist-exact.txt.tmp"), p("dnsdist-exact.txt"))
        os.replace(p("unbound-zones.conf.tmp"), p("unbound-zones.conf"))

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

    def ancestors(name):
        labels = name.split(".")
        return (".".join(labels[i:]) for i in range(len(labels)))

    if args.source:
        # Unbound's exact rules cover their subtree (see above): no query
        # may be at or under one. And the classes must be what they say.
        under_exact = [n for n in allowed + blocked if any(a in exact for a in ancestors(n))]
        bad_allowed = [n for n in allowed if any(a in subtree for a in ancestors(n))]
        bad_blocked = [n for n in blocked if not any(a in subtree for a in ancestors(n))]
        with open(p("prepare.meta"), "w", encoding="ascii") as f:
            f.write(f"queries_under_exact_rules={len(under_exact)}\n")
        if under_exact or bad_allowed or bad_blocked:
            sys.exit(
                f"query names at or under an exact rule: {under_exact[:3]} ({len(under_exact)}); "
                f"allowed names under a rule: {bad_allowed[:3]} ({len(bad_allowed)}); "
                f"blocked names under no subtree rule: {bad_blocked[:3]} ({len(bad_blocked)})"
            )

    def write(fname, names):
        with open(p(fname + args.tag + ".txt"), "w", encoding="ascii") as f:
            f.writelines(f"{n} A\n" for n in names)

    write("q-allowed", allowed)
    write("q-blocked", blocked)
    mix, a, b = [], 0, 0
    for i in range(args.names):
        if i % 10 == 9:
            mix.append(blocked[b])
            b += 1
        else:
            mix.append(allowed[a])
            a += 1
    write("q-mix9010", mix)
    print(
        f"prepare: {n_suffix} subtree + {n_exact} exact rules for dnsdist and Unbound; "
        f"{len(allowed)} allowed, {len(blocked)} blocked, {len(mix)} mixed ({b} blocked) queries",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
