"""The project's import graph: no cycles (imports inside functions count), arrows point down.

Layers, bottom to top: core <- matching.ml <- matching <- validation <- demo <- api <-
operations <- fashionid_app.

Read from the source with `ast`, so an import hidden inside a function is seen too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tuple(
    p.name for p in sorted(ROOT.iterdir()) if (p / "__init__.py").is_file() and p.name != "tests"
)
# bottom to top; a module may import its own layer or lower ones
LAYERS = (
    "core",
    "matching.ml",
    "matching",
    "validation",
    "demo",
    "api",
    "operations",
    "fashionid_app",
)
PURE = (
    "agreement",
    "aggregation",
    "assignment",
    "export",
    "quality",
    "replay",
    "report_text",
    "routing",
    "routing_plan",
    "throughput",
)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PROJECT:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            if "migrations" in rel.parts:
                continue
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Project modules imported anywhere in the file (`from a import b`: a.b if a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles_through(prefix: str) -> list[str]:
    """Modules under `prefix` that can reach themselves (each lies on an import cycle)."""
    on_cycle = []
    for start in sorted(m for m in GRAPH if m.startswith(prefix)):
        seen, todo = set(), list(GRAPH[start])
        while todo:
            node = todo.pop()
            if node == start:
                on_cycle.append(start)
                break
            if node not in seen:
                seen.add(node)
                todo.extend(GRAPH.get(node, ()))
    return on_cycle


def test_the_graph_is_read():
    assert "validation.services.routing" in GRAPH["validation.views"]
    # an import inside a function is seen (matching.selectors imports Offer inside functions)
    assert "matching.models" in GRAPH["matching.selectors"]


def _layer(module: str) -> int:
    """Index in LAYERS of the most specific layer that holds the module."""
    best = None
    for i, layer in enumerate(LAYERS):
        inside = module == layer or module.startswith(layer + ".")
        if inside and (best is None or len(layer) > len(LAYERS[best])):
            best = i
    assert best is not None, f"{module} belongs to no layer: add its package to LAYERS"
    return best


def test_no_import_cycle_anywhere():
    assert _cycles_through("") == []


def test_every_import_points_down_the_layers():
    upward = [
        (name, dep) for name, deps in GRAPH.items() for dep in deps if _layer(dep) > _layer(name)
    ]
    assert upward == []


def test_the_ml_library_is_plain_python():
    for name, path in MODULES.items():
        if name.startswith("matching.ml"):
            assert all(d.startswith("matching.ml") for d in GRAPH[name]), name
            source = path.read_text(encoding="utf-8")
            assert "import django" not in source and "from django" not in source, name


def test_arrows_point_down():
    for name, deps in GRAPH.items():
        if not name.startswith("validation"):
            continue
        assert not any(d.startswith("fashionid_app") for d in deps), name
        if name.startswith(("validation.services", "validation.selectors")):
            assert "validation.jobs" not in deps, name
        if name.startswith("validation.selectors"):
            assert not any(d.startswith("validation.services") for d in deps), name
    for name, deps in GRAPH.items():
        if name.startswith(("matching", "core")):
            assert not any(d.startswith("validation") for d in deps), name


def test_pure_modules_use_no_database():
    for mod in PURE:
        deps = GRAPH[f"validation.{mod}"]
        assert not any(d.startswith(("validation.models", "matching")) for d in deps), mod
        source = MODULES[f"validation.{mod}"].read_text(encoding="utf-8")
        assert "django" not in source, mod


def test_validation_reads_matching_tables_only_through_its_selectors():
    for name, path in MODULES.items():
        if not name.startswith("validation") or name == "validation.models":
            continue
        source = path.read_text(encoding="utf-8")
        for model in ("Candidate", "Offer", "MatchRun", "OfferImage", "Shop"):
            assert f"{model}.objects" not in source, (name, model)
