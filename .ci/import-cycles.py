#!/usr/bin/env python3
"""Fails on an import cycle between modules of the crate.

Every path a non-test source file names -- `crate::a::b`, `super::x`,
`self::x`, in `use` lines and in expressions alike -- is an edge between
two sibling modules: the child of their closest common ancestor on each
side. `config/mod.rs` naming `crate::update::fetch::read_ca_file` is the
edge config -> update; `collector/ingest.rs` naming `super::store` is
ingest -> store under collector. A strongly connected group of siblings
is a cycle: neither side can be understood, tested or changed without
the other.

Doc comments and test modules are not dependencies and are skipped.

Usage: .ci/import-cycles.py [SRC_DIR]   (default: src)
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "src")


def module_of(rel):
    parts = rel[:-3].split("/")
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def is_test_file(rel):
    base = os.path.basename(rel)
    return base == "tests.rs" or base.endswith("_tests.rs") or "/tests/" in "/" + rel


def strip_test_modules(text):
    """Drops `#[cfg(test)] mod x { ... }` blocks and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def paths_in(text):
    """Module paths a file names: `crate::a::b`, `super::a`, `self::a`,
    including those inside `use x::{a, b::c}` groups."""
    found = []
    for m in re.finditer(r"\b(crate|super|self)((?:::\w+)+)", text):
        found.append((m.group(1), m.group(2).split("::")[1:]))
    for m in re.finditer(r"\buse\s+(crate|super|self)((?:::\w+)*)::\{([^;]*)\}\s*;", text, re.S):
        base = m.group(2).split("::")[1:]
        for item in re.split(r"[,{}]", m.group(3)):
            item = item.strip()
            if item and item not in ("self", "*"):
                found.append((m.group(1), base + item.split("::")[:1]))
    return found


def resolve(module, is_mod_file, kind, rest):
    """The absolute module path a reference names (as long as it goes)."""
    if kind == "crate":
        base = ()
    elif kind == "self":
        base = module
    else:  # super: the parent of the module the file defines
        base = module[:-1]
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    return base + tuple(rest)


def main():
    files = {}
    for root, _, names in os.walk(SRC):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, SRC)
                if not is_test_file(rel):
                    with open(path, encoding="utf-8") as f:
                        files[rel] = f.read()
    modules = {module_of(rel) for rel in files}

    edges = {}  # parent -> {child: {child, ...}}
    for rel, text in files.items():
        here = module_of(rel)
        is_mod = os.path.basename(rel) in ("mod.rs", "lib.rs", "main.rs")
        for kind, rest in paths_in(strip_test_modules(text)):
            target = resolve(here, is_mod, kind, rest)
            # Only as deep as a module that exists.
            while target and target not in modules:
                target = target[:-1]
            common = 0
            while common < min(len(here), len(target)) and here[common] == target[common]:
                common += 1
            if common >= len(here) or common >= len(target):
                continue  # a module and its own ancestor or descendant
            parent = here[:common]
            a, b = here[common], target[common]
            edges.setdefault(parent, {}).setdefault(a, set()).add(b)

    cycles = []
    for parent, graph in edges.items():
        for scc in strongly_connected(graph):
            if len(scc) > 1:
                prefix = "/".join(parent) + "/" if parent else ""
                cycles.append(" ".join(sorted(prefix + m for m in scc)))

    for cycle in sorted(cycles):
        print(f"IMPORT CYCLE between sibling modules: {cycle}")
    if cycles:
        print("each module must depend one way: move the shared part down, or pass a value or a callback up")
        sys.exit(1)
    print("import cycles: none")


def strongly_connected(graph):
    """Tarjan's algorithm over {node: {successor, ...}}."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    nodes = set(graph) | {n for succ in graph.values() for n in succ}

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            out.append(scc)

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    main()
