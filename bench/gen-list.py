#!/usr/bin/env python3
"""Deterministic synthetic source list and query names for ward benchmarks.

    bench/gen-list.py --entries 1000000 --seed 1 --out src.txt --queries q.tsv

Writes a source list in the `ward list build` format (`NAME CATEGORY`, one
per line) and a query file with one `CLASS<TAB>NAME` per line, where CLASS
is one of:

  blocked       a name at or under a plaintext subtree rule (3-4 labels)
  confidential  a name at or under a rule of the `csam` category, which the
                benchmark builds with `--confidential csam` (3-4 labels)
  allowed       a name under no rule at all (3-4 labels, same TLD mix)

Names look like real registrations: two or three labels (`tanovi-meku42.com`,
`cdn.rolabe.vn`, `sukira.com.vn`), a mix of TLDs, about 1% IDN labels
(Vietnamese letters, stored as xn-- A-labels), 5% `=exact` rules and 10%
`*.` rules, in five categories (about 5% csam).

Uniqueness is by construction, not by a set: entry i gets the number
perm(i), where perm is a bijection on [0, 2^34), and the letters of its base
label spell that number in bijective base-100 over fixed-width
consonant-vowel syllables. Hyphens, accents and a digit tail decorate the
label but never change its letter sequence, so two entries can never share a
base label, and no rule can sit under another. Allowed names use numbers
perm(i) for i >= entries, so they are disjoint from every rule.

Same arguments, same bytes: everything derives from --seed.
"""

import argparse
import random
import sys

CONSONANTS = "bcdghklmnprstvz" + "fjqw" + "y"  # 20; never 'x' (no "xn--")
VOWELS = "aeiou"
SYLLABLES = [c + v for c in CONSONANTS for v in VOWELS]  # 100, width 2
# Vietnamese accented forms of each vowel (NFC, lowercase: UTS-46 maps them
# to themselves, so the A-label is a bijection of the text).
ACCENTS = {
    "a": "áàảãạăâ",
    "e": "éèẻẽẹê",
    "i": "íìỉĩị",
    "o": "óòỏõọôơ",
    "u": "úùủũụư",
}

# (tld, weight). "com.vn" is a second-level registry suffix.
TLDS = [
    ("com", 40),
    ("net", 10),
    ("vn", 15),
    ("com.vn", 10),
    ("org", 8),
    ("info", 7),
    ("xyz", 10),
]
CATEGORIES = [
    ("adult", 35),
    ("gambling", 30),
    ("violence", 15),
    ("drugs", 15),
    ("csam", 5),
]
SUBS = [
    "www", "m", "cdn", "api", "img", "static", "mail", "app", "vip", "play",
    "live", "video", "news", "shop", "bet", "game", "login", "media", "ws",
    "s1", "s2", "a", "b", "go", "home", "blog", "chat", "dl", "files", "en",
]

BITS = 34
MASK = (1 << BITS) - 1


def perm(i: int, seed: int) -> int:
    """A bijection on [0, 2^34) for each seed: a seeded offset, odd
    multiplies and xor-shifts."""
    x = (i + seed * 0x2545F491) & MASK
    x = (x * 0x9E3779B1) & MASK
    x ^= x >> 17
    x = (x * 0x85EBCA77) & MASK
    x ^= x >> 13
    x = (x * 0xC2B2AE3D) & MASK
    x ^= x >> 16
    return x


def spell(n: int) -> str:
    """n in bijective base 100 over SYLLABLES: distinct n, distinct text."""
    out = []
    n += 1
    while n > 0:
        n -= 1
        out.append(SYLLABLES[n % 100])
        n //= 100
    return "".join(out)


def weighted(table):
    total = sum(w for _, w in table)
    cum, acc = [], 0
    for v, w in table:
        acc += w
        cum.append((acc, v))

    def pick(r: float):
        x = r * total
        for bound, v in cum:
            if x < bound:
                return v
        return cum[-1][1]

    return pick


pick_tld = weighted(TLDS)
pick_cat = weighted(CATEGORIES)


def base_label(n: int, rng: random.Random, idn_fraction: float) -> str:
    letters = spell(n)
    # Decorate: a hyphen inside (never at either end), a digit tail, an
    # accent. None of these changes the letter sequence.
    r = rng.random()
    if r < 0.45 and len(letters) >= 4:
        cut = 2 * rng.randint(1, len(letters) // 2 - 1)
        letters = letters[:cut] + "-" + letters[cut:]
    if rng.random() < 0.40:
        letters += str(rng.randint(0, 999))
    if rng.random() < idn_fraction:
        idx = [k for k, ch in enumerate(letters) if ch in ACCENTS]
        if idx:
            k = rng.choice(idx)
            letters = letters[:k] + rng.choice(ACCENTS[letters[k]]) + letters[k + 1 :]
    return letters


def name_for(n: int, rng: random.Random, idn_fraction: float, labels_hint: float):
    """A registrable name `base.tld`, sometimes with one subdomain label."""
    base = base_label(n, rng, idn_fraction)
    tld = pick_tld(rng.random())
    name = f"{base}.{tld}"
    if rng.random() < labels_hint:
        name = f"{rng.choice(SUBS)}.{name}"
    return name


def label_count(name: str) -> int:
    return name.count(".") + 1


def under(name: str, rng: random.Random) -> str:
    """A name at or below `name` with 3-4 labels (never fewer than name)."""
    have = label_count(name)
    want = rng.choice((3, 4))
    extra = max(want - have, 1 if have < 5 else 0)
    for _ in range(extra):
        name = f"{rng.choice(SUBS)}.{name}"
    return name


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True, help="source list to write")
    ap.add_argument("--queries", help="query file to write (CLASS<TAB>NAME)")
    ap.add_argument("--per-class", type=int, default=100_000, help="queries per class")
    ap.add_argument("--idn-fraction", type=float, default=0.01)
    ap.add_argument("--exact-fraction", type=float, default=0.05)
    ap.add_argument("--wildcard-fraction", type=float, default=0.10)
    ap.add_argument("--three-label-fraction", type=float, default=0.35)
    args = ap.parse_args()
    n_entries = args.entries
    if n_entries <= 0 or 2 * n_entries > (1 << BITS):
        ap.error("--entries out of range")

    rng = random.Random(args.seed)
    q = args.per_class
    # Candidates are sampled at a rate that yields about 2*q of each class,
    # then cut down to exactly q (or fewer for tiny lists).
    p_plain = min(1.0, 2.5 * q / max(1, n_entries * 0.95 * (1 - args.exact_fraction)))
    p_conf = min(1.0, 2.5 * q / max(1, n_entries * 0.05 * (1 - args.exact_fraction)))
    plain_cands, conf_cands = [], []
    counts = {}

    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        out.write(f"# synthetic ward benchmark list: {n_entries} entries, seed {args.seed}\n")
        buf = []
        for i in range(n_entries):
            name = name_for(perm(i, args.seed), rng, args.idn_fraction, args.three_label_fraction)
            cat = pick_cat(rng.random())
            r = rng.random()
            if r < args.exact_fraction:
                text, subtree = "=" + name, False
            elif r < args.exact_fraction + args.wildcard_fraction:
                text, subtree = "*." + name, True
            else:
                text, subtree = name, True
            counts[cat] = counts.get(cat, 0) + 1
            if subtree and args.queries:
                if cat == "csam":
                    if rng.random() < p_conf:
                        conf_cands.append(name)
                elif rng.random() < p_plain:
                    plain_cands.append(name)
            buf.append(f"{text} {cat}\n")
            if len(buf) >= 65536:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))

    if args.queries:
        qrng = random.Random(args.seed * 1_000_003 + 7)
        rows = []
        for cls, cands in (("blocked", plain_cands), ("confidential", conf_cands)):
            qrng.shuffle(cands)
            rows += [(cls, under(n, qrng)) for n in cands[:q]]
        for j in range(q):
            # Fresh numbers: no rule names this base label, so nothing
            # above or below it is listed.
            name = name_for(perm(n_entries + j, args.seed), qrng, args.idn_fraction, 0.0)
            rows.append(("allowed", under(name, qrng)))
        qrng.shuffle(rows)
        with open(args.queries, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(f"{c}\t{n}\n" for c, n in rows)

    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"wrote {args.out}: {n_entries} entries ({summary})", file=sys.stderr)
    if args.queries:
        got = {}
        for c, _ in rows:
            got[c] = got.get(c, 0) + 1
        print(f"wrote {args.queries}: {got}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
