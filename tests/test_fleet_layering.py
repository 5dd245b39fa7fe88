"""Incidents use nodes; the fleet app never reaches up into incidents (STYLE.md, the house)."""

import ast
from pathlib import Path

from tests.conftest import ROOT


def imported_modules(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module or ""


def test_fleet_code_imports_nothing_from_the_apps_above_it():
    offenders = [
        (str(path.relative_to(ROOT)), module)
        for path in (ROOT / "fleet").rglob("*.py")
        if "migrations" not in path.parts  # the move itself had to start in incidents' history
        for module in imported_modules(path)
        if module.split(".")[0] in {"incidents", "changes", "bench"}
    ]
    assert offenders == []
