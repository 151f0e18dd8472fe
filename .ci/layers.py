#!/usr/bin/env python3
"""The layer rule of entra-drift's product crate: every top-level module of src/ has a layer,
and a module may import (`crate::x`) only modules of strictly lower layers. Unit-test modules
(`#[cfg(test)] mod tests { ... }` and `tests.rs` files) may reach anywhere.

usage: layers.py [SRC_DIR]   prints each back-edge with its file and line; exit 1 if any.
"""
import os
import re
import sys

# Bottom to top; one list entry per layer (modules of one layer may not import each other).
LAYERS = [
    ["model"],                        # entra-model: Graph serde models, tenant-dir format
    ["graph", "trust"],               # the Graph HTTP client and its paths; SSH signatures
    ["blob"],                         # Blob Storage over the same credential and HTTP client
    ["error"],                        # the library's error type
    ["threads"],                      # two pieces of work at once
    ["clock", "files", "output"],     # utilities: time, durable files, the printer
    ["progress"],                     # progress lines
    ["snapshot"],                     # sources: Graph, tenant directory, stored snapshot
    ["audit"],                        # pure joins and their row helpers
    ["plan"],                         # the reprocess plan and its approval
    ["report"],                       # writers: CSV, Excel
    ["apply"],                        # executing a plan
    ["lock"],                         # run-folder state ...
    ["exceptions"],
    ["history"],
    ["evidence"],
    ["notify"],                       # mail, Teams and webhooks after an audit
    ["config"],                       # the configuration file
    ["generate"],                     # synthetic tenants
    ["cli"],                          # clap types
    ["settings"],                     # flags + file + defaults -> settings
    ["commands"],                     # one module per subcommand
]
ROOTS = {"main", "lib"}


def rank_of():
    ranks = {}
    for index, layer in enumerate(LAYERS):
        for module in layer:
            ranks[module] = index
    return ranks


def strip_tests(text):
    # `#[cfg(test)] mod tests { ... }` runs to the end of the file by convention here.
    return re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S)


def main(src):
    ranks = rank_of()
    problems = []
    seen = set()
    for root, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src)
            top = rel.split(os.sep)[0].removesuffix(".rs")
            if top in ROOTS or name == "tests.rs" or name.endswith("_tests.rs") or "tests" in rel.split(os.sep)[:-1]:
                continue
            seen.add(top)
            if top not in ranks:
                problems.append(f"{rel}: module `{top}` has no layer in .ci/layers.py")
                continue
            text = strip_tests(open(path, encoding="utf-8").read())
            for number, line in enumerate(text.splitlines(), 1):
                line = line.split("//", 1)[0]  # comments and doc links are not imports
                targets = re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", line)
                for group in re.findall(r"crate::\{([^}]*)\}", line):
                    targets += [p.strip().split("::")[0] for p in group.split(",")]
                for target in targets:
                    if not target or target == top or target in ("Error", "Result"):
                        continue
                    if target not in ranks:
                        continue
                    if ranks[target] >= ranks[top]:
                        problems.append(
                            f"{rel}:{number}: `{top}` imports `{target}`, "
                            f"which is {'the same' if ranks[target] == ranks[top] else 'a higher'} layer"
                        )
    for problem in problems:
        print(problem)
    print(f"layers: {len(seen)} modules checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "src")))
