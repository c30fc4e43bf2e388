#!/usr/bin/env python3
"""Print which deidnode subpackages import which (the picture of the layout as code): ``python tools/import_graph.py
[ROOT]`` (ROOT: a checkout, default this one). Static: reads every module's import statements, runs nothing."""

from __future__ import annotations

import ast
import collections
import sys
from pathlib import Path


def graph(root: Path) -> dict[str, set[str]]:
    pkg_root = root / "deidnode"
    out: dict[str, set[str]] = collections.defaultdict(set)
    for path in sorted(pkg_root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_init = parts[-1] == "__init__"
        if is_init:
            parts = parts[:-1]
        module = ".".join(parts)
        package = module if is_init else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    targets = [".".join(base + ([node.module] if node.module else []))]
                elif node.module:
                    targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                if t.startswith("deidnode."):
                    a, b = _top(module), _top(t)
                    if a != b and b != "deidnode":
                        out[a].add(b)
    return out


def _top(module: str) -> str:
    return ".".join(module.split(".")[:2])


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    g = graph(root)
    for source in sorted(g):
        targets = ", ".join(sorted(t.removeprefix("deidnode.") for t in g[source]))
        print(f"{source.removeprefix('deidnode.'):15} -> {targets}")


if __name__ == "__main__":
    main()
