"""The api app is a top layer: it reads matching/validation selectors; only urls import it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "validation", "matching", "core", "demo", "fashionid_app")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _files(pkg: str):
    return [p for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts]


def test_nothing_but_the_url_conf_imports_api():
    importers = {
        str(p.relative_to(ROOT))
        for pkg in PACKAGES
        if pkg != "api"
        for p in _files(pkg)
        if any(m == "api" or m.startswith("api.") for m in _imports(p))
    }
    assert importers == set()  # fashionid_app/urls.py names it as a string: include("api.urls")
    assert 'include("api.urls")' in (ROOT / "fashionid_app" / "urls.py").read_text()


def _is_selector_or_model(mod: str) -> bool:
    """matching.selectors, validation.selectors.matches, matching.loop_selectors, *.models."""
    parts = mod.split(".")
    if parts[1] == "models":
        return True
    return any(p == "selectors" or p.endswith("_selectors") for p in parts[1:])


def test_api_reads_only_selectors_and_models_of_lower_layers():
    for path in _files("api"):
        for mod in _imports(path):
            if mod.startswith(("validation.", "matching.")):  # (`from matching import x`: x)
                assert _is_selector_or_model(mod), (path, mod)
                assert "services" not in mod and "jobs" not in mod, (path, mod)


def test_the_layer_rule_itself():
    for ok in (
        "matching.selectors",
        "matching.loop_selectors",
        "validation.selectors.matches",
        "matching.models",
        "validation.models",
    ):
        assert _is_selector_or_model(ok), ok
    for bad in (
        "matching.services.loop",
        "matching.products",
        "validation.export",
        "matching.ml.match_config",
    ):
        assert not _is_selector_or_model(bad), bad
