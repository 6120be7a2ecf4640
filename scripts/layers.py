#!/usr/bin/env python3
"""Checks that src/ imports run one way (ARCHITECTURE.md, "Layers").

Reads every `crate::…` and `super::…` path in src/**/*.rs (comments skipped) and
fails when
  1. a top-level module uses one at the same or a higher layer than itself, unless
     the edge is listed in ALLOWED (each one justified in ARCHITECTURE.md), or
  2. the files and folders directly inside one module import each other in a loop
     (the module's own mod.rs is its facade and is not a node), or
  3. `anyhow` is used outside cli/ and main.rs (typed errors below the commands).

Usage: scripts/layers.py [--graph]   (--graph prints the module edges and exits 0)
"""
import os
import re
import sys
from collections import defaultdict

# Lowest first. A module may import modules on lower lines only; names on one line
# are one layer and may not import each other.
LAYERS = [
    "config text telemetry ratelimit demo html",  # leaves: config kit, text, counters, limiter, demo data, templates
    "stats",  # pure numerics
    "metrics embed notify",  # pure cores: text metrics, embedders, alert logic
    "semantic answers",  # embedding-space analysis (uses stats); answers against the golden set
    "llm",  # OpenAI-compatible chat client and the review ensemble's pure parts (uses answers)
    "store",  # the only SQL
    "ingest",  # record parsing and storing
    "golden sources",  # golden-set import, pull sources
    "alert report review",  # services over the store
    "jobs",  # runs: sample, measure, test, alert, propose
    "web http",  # routers
    "settings",  # driftwatch.toml -> one checked Settings
    "daemon",  # serve, scheduler, signals, Prometheus exposition
    "cli",  # commands
    "lib main",
]

# Edges allowed against the order: (from, to) -> reason. At most 4.
ALLOWED = {}

RANK = {}
for i, line in enumerate(LAYERS):
    for m in line.split():
        RANK[m] = i

INLINE_MOD_RE = re.compile(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*\{")
PATH_RE = re.compile(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)")


def module_path(rel):
    """src/a/b/c.rs -> ['a','b','c']; src/a/b/mod.rs -> ['a','b']; src/x.rs -> ['x']."""
    parts = rel[:-3].split("/")[1:]
    if parts[-1] == "mod":
        parts = parts[:-1]
    return parts


def code_lines(text):
    for n, line in enumerate(text.splitlines(), 1):
        s = line.lstrip()
        if s.startswith("//"):
            continue
        yield n, line.split("//")[0] if "\"" not in line else line


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    os.chdir(root)
    files = []
    for d, _, fs in os.walk("src"):
        for f in fs:
            if f.endswith(".rs"):
                files.append(os.path.join(d, f).replace(os.sep, "/"))
    files.sort()

    errors = []
    top_edges = defaultdict(set)
    inner = defaultdict(lambda: defaultdict(set))  # module -> child -> {child}
    for rel in files:
        me = module_path(rel)
        top = me[0]
        if top not in RANK:
            errors.append(f"{rel}: module `{top}` is not in scripts/layers.py LAYERS")
            continue
        with open(rel, encoding="utf-8") as fh:
            text = fh.read()
        here = me
        for n, line in code_lines(text):
            if "anyhow" in line and top not in ("cli", "main"):
                errors.append(f"{rel}:{n}: `anyhow` outside cli and main; return a typed error")
            inline = INLINE_MOD_RE.match(line)
            if inline:  # an inline `mod tests {`: paths below are one level deeper
                here = me + [inline.group(1)]
            for m in PATH_RE.finditer(line):
                kind, rest = m.group(1), m.group(2).split("::")[1:]
                if kind == "crate":
                    target = rest
                else:
                    # `super` is the parent of this file's module (of the folder for mod.rs)
                    base = here[:-1]
                    while rest and rest[0] == "super":
                        base, rest = base[:-1], rest[1:]
                    target = base + rest
                if not target:
                    continue
                to = target[0]
                if to != top:
                    top_edges[top].add(to)
                    if to in RANK and RANK[to] >= RANK[top] and (top, to) not in ALLOWED:
                        errors.append(
                            f"{rel}:{n}: `{top}` (layer {RANK[top]}) uses `crate::{'::'.join(target)}`"
                            f" (layer {RANK[to]}): imports must point to a lower layer"
                        )
                elif len(me) >= 2 and len(target) >= 2 and target[1] != me[1]:
                    # sibling inside one module: child dirs/files are the nodes
                    # test modules and test helpers may use what they test
                    if here == me and not me[-1].startswith("test"):
                        inner[top][me[1]].add(target[1])

    if "--graph" in sys.argv:
        for a in sorted(top_edges, key=lambda m: RANK.get(m, 99)):
            print(f"{a:10} -> {' '.join(sorted(top_edges[a], key=lambda m: RANK.get(m, 99)))}")
        return 0

    for top, graph in sorted(inner.items()):
        cycle = find_cycle(graph)
        if cycle:
            errors.append(f"src/{top}: submodules import each other in a loop: {' -> '.join(cycle)}")

    if len(ALLOWED) > 4:
        errors.append(f"ALLOWED lists {len(ALLOWED)} back-imports; at most 4")
    for (a, b) in ALLOWED:
        if b not in top_edges.get(a, ()):
            errors.append(f"ALLOWED edge {a} -> {b} is no longer used; remove it")

    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"layers: {len(errors)} problem(s); see ARCHITECTURE.md, Layers", file=sys.stderr)
        return 1
    print(f"layers: {len(files)} files, {len(RANK)} modules, imports run one way")
    return 0


def find_cycle(graph):
    """A loop in a small directed graph, as a list of nodes, or None."""
    state = {}
    stack = []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if v not in graph and v not in state:
                continue
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                c = visit(v)
                if c:
                    return c
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state:
            c = visit(u)
            if c:
                return c
    return None


if __name__ == "__main__":
    sys.exit(main())
