"""The package is grouped by stage, and the stages import only what they may.

- ``core`` (contracts) imports nothing else of bttackler;
- ``trialside`` runs in forked trials: the contracts only;
- ``diagnosis`` receives histories, never monitor events: no run time;
- ``analysis`` works on finished runs: neither the trial side nor the run time;
- ``runtime`` never reaches up into the analysis or the command line;
- ``integrations`` runs in the user's own process: the contracts, the probe, the diagnosis;
  nothing imports it (``bttackler/__init__.py`` reaches it lazily, by name).
Imports inside functions count as much as those at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bttackler

PACKAGE = Path(bttackler.__file__).resolve().parent
STAGES = ("core", "trialside", "runtime", "diagnosis", "analysis", "cli", "integrations")
ALLOWED = {
    "core": {"core"},
    "trialside": {"core", "trialside"},
    "diagnosis": {"core", "diagnosis"},
    "analysis": {"core", "diagnosis", "analysis"},
    "runtime": {"core", "trialside", "diagnosis", "runtime", "tasks"},
    "cli": {*STAGES} - {"integrations"},
    "integrations": {"core", "trialside", "diagnosis", "integrations"},
}


def _imported_stages(path: Path) -> set[str]:
    stages: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "bttackler":
                names = [f"bttackler.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "bttackler" and len(parts) > 1:
                stages.add(parts[1])
    return stages


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_imports_only_what_it_may(stage: str) -> None:
    broken = {
        str(path.relative_to(PACKAGE)): sorted(_imported_stages(path) - ALLOWED[stage])
        for path in sorted((PACKAGE / stage).rglob("*.py"))
        if _imported_stages(path) - ALLOWED[stage]
    }
    assert not broken, f"{stage} may import only {sorted(ALLOWED[stage])}: {broken}"


def test_the_package_top_level_holds_only_the_stages() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert modules == set()
    assert folders - {"tasks"} == set(STAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_says_where_it_runs_and_what_it_may_import(stage: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text())) or ""
    assert "Where it runs" in doc and "may import" in doc, stage


def test_nothing_imports_the_integrations() -> None:
    users = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in ("integrations", "__init__.py")
        and "integrations" in _imported_stages(path)  # the package's own API: by name
    ]
    assert users == []
