"""The architecture's numbers, measured from the source: run it before and after a change.

    python tools/code_metrics.py            # the table
    python tools/code_metrics.py --json     # the same, as JSON

It counts what docs/ARCHITECTURE.md asks to keep small: imports that go up the layers,
package cycles, `# type: ignore` comments, front ends reaching into the workspace, modules
over 400 lines and functions over 60 lines. mypy's error count is added with --mypy.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app" / "lifeboat"

#: Lowest first; a module may import its own layer and the ones below it.
LAYERS = ["foundation", "core", "storage", "remote", "jobs", "service", "scheduling", "gui", "cli"]
FRONT_ENDS = ("gui", "cli", "scheduling")
MODULE_LINES = 400
FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(APP.rglob("*.py")):
        rel = path.relative_to(APP.parent).with_suffix("")
        name = ".".join(rel.parts)
        found[name.removesuffix(".__init__")] = path
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports(path: Path, module: str) -> set[str]:
    """Every lifeboat module `path` imports, at any depth (lazy imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("lifeboat"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level or None]
                base = ".".join([*parent, base] if base else parent)
            if base.startswith("lifeboat"):
                found.add(base)
    return found


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in graph.items():
        here = package_of(module)
        if here not in LAYERS:
            continue
        for target in targets:
            there = package_of(target)
            if there in LAYERS and LAYERS.index(there) > LAYERS.index(here):
                out.append(f"{module} -> {target}")
    return sorted(out)


def package_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of packages that reach each other through imports (each group one cycle)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        for target in targets:
            a, b = package_of(module), package_of(target)
            if a and b and a != b:
                edges[a].add(b)

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reached = {pkg: reach(pkg) for pkg in list(edges)}
    groups = {
        tuple(sorted({pkg} | {o for o in reached[pkg] if pkg in reached.get(o, set())}))
        for pkg in reached
        if pkg in reached[pkg]
    }
    return [list(g) for g in sorted(groups)]


def long_functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > FUNCTION_LINES:
                out.append((node.name, length))
    return out


REACH_THROUGH = re.compile(r"\bservice\.workspace\b|\._workspace\b|\bworkspace\.(catalog|paths)\b")


def measure(with_mypy: bool) -> dict[str, object]:
    found = modules()
    graph = {name: imports(path, name) for name, path in found.items()}
    lines = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in found.items()
    }
    ignores = sum(
        path.read_text(encoding="utf-8").count("# type: ignore") for path in found.values()
    )
    reach = [
        f"{name}:{n}"
        for name, path in found.items()
        if package_of(name) in FRONT_ENDS
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if REACH_THROUGH.search(line)
    ]
    functions = [
        f"{name}.{fn} ({length})"
        for name, path in found.items()
        for fn, length in long_functions(path)
    ]
    result: dict[str, object] = {
        "modules": len(found),
        "upward_imports": layer_violations(graph),
        "package_cycles": [" <-> ".join(group) for group in package_cycles(graph)],
        "type_ignores": ignores,
        "reach_throughs": reach,
        "modules_over_400": sorted(f"{n} ({c})" for n, c in lines.items() if c > MODULE_LINES),
        "functions_over_60": sorted(functions),
    }
    if with_mypy:
        done = subprocess.run(
            [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        match = re.search(r"Found (\d+) error", done.stdout)
        result["mypy_errors"] = int(match.group(1)) if match else 0
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--mypy", action="store_true", help="also count mypy's errors")
    args = parser.parse_args()
    result = measure(args.mypy)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for key, value in result.items():
        if isinstance(value, list):
            print(f"{key}: {len(value)}")
            for item in value:
                print(f"    {item}")
        else:
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
