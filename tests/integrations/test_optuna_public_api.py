"""BTTacklerPruner on Optuna's public API only: no private attribute of an Optuna object in
bttackler/integrations/optuna.py and lightning.py (read from their syntax trees), and
optuna_checks.py's checks on real SQLite and journal studies, with the venv's Optuna (the
newest) and with the oldest the ``optuna`` extra allows (``make install`` puts it in
.venv/optuna-oldest, without its dependencies: the venv's serve it)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

optuna = pytest.importorskip("optuna")

ROOT = Path(__file__).resolve().parents[2]
MODULES = [ROOT / "bttackler" / "integrations" / f"{name}.py" for name in ("optuna", "lightning")]
CHECKS = Path(__file__).with_name("optuna_checks.py")
OLDEST = Path(sys.prefix) / "optuna-oldest"  # the venv's: $(VENV)/optuna-oldest


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_accesses(source: str) -> list[str]:
    """Every ``x._name`` whose ``x`` is not ``self``, ``getattr(x, "_name")`` (and set/has/
    delattr) and import of a private module in ``source``: on Optuna's objects (study, trial,
    storage, FrozenTrial) any of them is Optuna's private API."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "setattr", "hasattr", "delattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules.append(node.module)
                modules += [f"{node.module}.{a.name}" for a in node.names]
            if any(_private(part) for m in modules if "optuna" in m for part in m.split(".")):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_check_finds_what_the_pruner_used_to_do() -> None:
    old = """
storage = study._storage
storage.set_trial_user_attr(trial._trial_id, "bttackler_reason", "why")
frozen = getattr(trial, "_cached_frozen_trial")
from optuna.trial._trial import Trial
self._own = 1
"""
    assert sorted(hit.split(":")[0] for hit in private_accesses(old)) == [
        "line 2",
        "line 3",
        "line 4",
        "line 5",
    ]


def test_the_pruner_uses_no_private_optuna_attribute() -> None:
    for module in MODULES:  # the pruner, and the Lightning callback that prunes Optuna trials
        assert private_accesses(module.read_text()) == [], module.name


def test_the_pruner_on_the_newest_optuna(tmp_path: Path) -> None:
    sys.path.insert(0, str(CHECKS.parent))
    import optuna_checks

    assert optuna_checks.run(tmp_path) == optuna.__version__


def oldest_allowed() -> str:
    """The floor of pyproject's ``optuna`` extra, as a release (``>=4.0``: 4.0.0)."""
    with (ROOT / "pyproject.toml").open("rb") as fh:
        extra = tomllib.load(fh)["project"]["optional-dependencies"]["optuna"]
    floors = [re.fullmatch(r"optuna>=([0-9.]+)", req.replace(" ", "")) for req in extra]
    found = [m.group(1) for m in floors if m]
    assert found, f"pyproject.toml: the optuna extra {extra} has no optuna>=X"
    parts = found[0].split(".")
    return ".".join(parts + ["0"] * (3 - len(parts)))


@pytest.mark.slow  # a real interpreter importing torch
def test_the_pruner_on_the_oldest_optuna_the_extra_allows(tmp_path: Path) -> None:
    version = oldest_allowed()
    if not (OLDEST / "optuna").is_dir():
        pytest.skip(f"{OLDEST} is missing: `make install` puts optuna=={version} there")
    path = [str(OLDEST), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(CHECKS), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == f"optuna {version} ok", (
        f"{OLDEST} holds another Optuna than the extra's floor: the Makefile's install "
        f"target must install optuna=={version} there"
    )
