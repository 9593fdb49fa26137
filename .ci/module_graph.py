#!/usr/bin/env python3
"""The module dependency graph of src/, checked.

Reads every `crate::<module>` path in the library's sources (grouped
`use crate::{a, b::c}` forms included; comments and string literals
skipped), builds the graph of top-level modules, and fails when

  * two modules depend on each other, directly or through others (a cycle),
  * a module depends on one in a higher layer than its own (LAYERS below:
    dependencies point down the list, or sideways only where a layer
    says so).

Usage: .ci/module_graph.py [--dot] [SRC_DIR]
Prints the graph as `module -> dependencies`, or as Graphviz with --dot.
"""

import os
import re
import sys

# Top to bottom: a module may use any module in a lower layer, none in a
# higher one; modules in one layer may use each other only as long as no
# cycle arises. A module not listed is an error, so that a new module is
# placed on purpose (and docs/architecture.md says where).
LAYERS = [
    ("operator tools", ["backup"]),
    ("http", ["gateway", "client", "witness"]),
    ("services", ["dataspace"]),
    ("", ["grants", "supervision", "events"]),
    ("", ["trading"]),
    ("", ["rights"]),
    ("", ["catalog"]),
    ("", ["accounts"]),
    ("context", ["market"]),
    ("rule book and log", ["access", "audit"]),
    ("infrastructure", ["store", "objects", "tokens", "page"]),
    ("", ["keys"]),
    ("foundation", ["config"]),
    ("", ["domain"]),
    ("", ["error"]),
]

TOKEN = re.compile(
    r"""
      (?P<comment>//[^\n]*|/\*.*?\*/)
    | (?P<string>b?r(?P<hashes>\#*)".*?"(?P=hashes)|b?"(?:\\.|[^"\\])*")
    | (?P<char>b?'(?:\\.|[^'\\])')
    | (?P<path>\bcrate::(?:\{|\w+))
    """,
    re.S | re.X,
)


def module_of(path, src):
    rel = os.path.relpath(path, src)
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def braced(text, start):
    """The items at the top level of the braces opening at `start`."""
    depth, item, items = 0, "", []
    for i in range(start, len(text)):
        c = text[i]
        if c == "{":
            depth += 1
            if depth == 1:
                continue
        elif c == "}":
            depth -= 1
            if depth == 0:
                items.append(item)
                return items
        if depth == 1 and c == ",":
            items.append(item)
            item = ""
        elif depth >= 1:
            item += c
    return items


def dependencies(text):
    found = set()
    for m in TOKEN.finditer(text):
        path = m.group("path")
        if not path:
            continue
        if path.endswith("{"):
            for item in braced(text, m.end() - 1):
                name = re.match(r"\s*(\w+)", item)
                if name and name.group(1) != "self":
                    found.add(name.group(1))
        else:
            found.add(path.split("::")[1])
    return found


def graph(src):
    edges = {}
    for root, _, files in os.walk(src):
        for name in files:
            path = os.path.join(root, name)
            if not name.endswith(".rs") or path in (
                os.path.join(src, "main.rs"),
                os.path.join(src, "lib.rs"),
            ):
                continue
            module = module_of(path, src)
            with open(path, encoding="utf-8") as f:
                deps = dependencies(f.read())
            edges.setdefault(module, set()).update(d for d in deps if d != module)
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main(argv):
    dot = "--dot" in argv
    args = [a for a in argv if a != "--dot"]
    src = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "src")
    edges = graph(src)
    modules = set(edges) | {d for ds in edges.values() for d in ds}
    if dot:
        print("digraph modules {\n  rankdir=TB;")
        for m in sorted(edges):
            for d in sorted(edges[m]):
                print(f'  "{m}" -> "{d}";')
        print("}")
    else:
        for m in sorted(modules):
            print(f"{m} -> {', '.join(sorted(edges.get(m, ()))) or '(nothing)'}")
    errors = []
    for component in cycles(edges):
        errors.append("cycle among " + ", ".join(component))
    layer_of = {}
    for depth, (_, members) in enumerate(LAYERS):
        for m in members:
            layer_of[m] = depth
    for m in sorted(modules):
        if m not in layer_of:
            errors.append(f"module {m} has no layer in .ci/module_graph.py")
    for m in sorted(edges):
        for d in sorted(edges[m]):
            if m in layer_of and d in layer_of and layer_of[d] < layer_of[m]:
                errors.append(f"{m} uses {d}, which lies above it")
    for e in errors:
        print("error:", e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
