#!/usr/bin/env python3
"""Fails when an #include crosses pare's module graph.

The graph is the pare_module(NAME DEPS ...) table in src/pare/CMakeLists.txt: a module's sources may include
headers of the base layer (src/pare/*.h), of their own module and of the modules listed in its DEPS, nothing
else. The table itself must be acyclic and name every folder under src/pare. Tests (*_test.cpp, *_test_util.h)
sit beside the code but are built apart and may include anything.

  python3 scripts/check_layering.py               # check the tree (exit 1 and one line per violation)
  python3 scripts/check_layering.py --self-test   # the check must catch a planted wrong include and a cycle
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src", "pare")
INCLUDE = re.compile(r'^\s*#\s*include\s+"pare/([^"]+)"', re.M)


def module_graph(cmake_text):
    """{module: set of allowed modules} from the pare_module(...) calls."""
    graph = {}
    for m in re.finditer(r"^\s*pare_module\(([^)]*)\)", cmake_text, re.M):
        words = m.group(1).split()
        name, deps = words[0], words[2:] if len(words) > 1 and words[1] == "DEPS" else []
        graph[name] = set(deps)
    return graph


def cycles(graph):
    found, state = [], {}

    def visit(n, path):
        state[n] = "open"
        for d in sorted(graph.get(n, ())):
            if state.get(d) == "open":
                found.append(" -> ".join(path[path.index(d):] + [d]))
            elif d not in state:
                visit(d, path + [d])
        state[n] = "done"

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    return found


def is_test(path):
    base = os.path.basename(path)
    return base.endswith("_test.cpp") or base.endswith("_test_util.h") or base.endswith("_fuzz.cpp")


def source_files(src):
    """{relative path under src/pare: text} of every library source and header."""
    files = {}
    for dirpath, _, names in os.walk(src):
        for n in names:
            if n.endswith((".h", ".cpp")):
                full = os.path.join(dirpath, n)
                rel = os.path.relpath(full, src)
                if not is_test(rel):
                    with open(full, encoding="utf-8", errors="replace") as f:
                        files[rel] = f.read()
    return files


def violations(graph, files, folders):
    out = [f"module graph has a cycle: {c}" for c in cycles(graph)]
    for d in sorted(set().union(*graph.values()) - set(graph)) if graph else []:
        out.append(f"module graph names an unknown module '{d}'")
    for folder in sorted(folders - set(graph)):
        out.append(f"src/pare/{folder}/ is not a module of src/pare/CMakeLists.txt (add a pare_module line)")
    for rel, text in sorted(files.items()):
        own = rel.split(os.sep)[0] if os.sep in rel else None  # None: the base layer
        for line_no, target in ((text.count("\n", 0, m.start()) + 1, m.group(1)) for m in INCLUDE.finditer(text)):
            to = target.split("/")[0] if "/" in target else None
            if to is None or to == own:
                continue
            if own is None:
                out.append(f"src/pare/{rel}:{line_no}: the base layer includes pare/{target} (base depends on nothing)")
            elif to not in graph.get(own, set()):
                allowed = ", ".join(sorted(graph.get(own, set()))) or "nothing but base"
                out.append(f"src/pare/{rel}:{line_no}: module '{own}' includes pare/{target}, but '{own}' may use: "
                           f"{allowed} (src/pare/CMakeLists.txt)")
    return out


def load_tree():
    with open(os.path.join(SRC, "CMakeLists.txt"), encoding="utf-8") as f:
        graph = module_graph(f.read())
    folders = {d for d in os.listdir(SRC) if os.path.isdir(os.path.join(SRC, d))}
    return graph, source_files(SRC), folders


def self_test():
    graph, files, folders = load_tree()
    planted = dict(files)
    planted[os.path.join("io", "layering_probe.cpp")] = '#include "pare/quant/recipe.h"\n'
    found = violations(graph, planted, folders)
    assert any("io/layering_probe.cpp:1: module 'io' includes pare/quant/recipe.h" in v for v in found), found
    cyclic = {k: set(v) for k, v in graph.items()}
    cyclic["ir"].add("quant")
    assert any("cycle" in v for v in violations(cyclic, files, folders)), "a cycle went unnoticed"
    print("layering self-test: a planted io -> quant include and an ir -> quant edge are both caught")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    graph, files, folders = load_tree()
    found = violations(graph, files, folders)
    for v in found:
        print(v)
    if found:
        print(f"layering: {len(found)} violation(s)")
        return 1
    print(f"layering: {len(files)} files in {len(graph)} modules + base respect the module graph")
    return 0


if __name__ == "__main__":
    sys.exit(main())
