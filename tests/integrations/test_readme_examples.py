"""The Integrations examples run as they stand: each fenced python block of
docs/integrations.md (the page the README's "Integrations" links to) is run in a fresh
interpreter, so the documentation cannot drift from the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real interpreters importing torch

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOC = ROOT / "docs" / "integrations.md"
NEEDS = {"Python API": None, "Optuna": "optuna", "Lightning": "lightning"}


def _examples() -> dict[str, str]:
    blocks = {}
    for part in DOC.read_text().split("\n## ")[1:]:
        title = part.splitlines()[0].strip()
        found = re.findall(r"```python\n(.*?)```", part, flags=re.S)
        assert len(found) == 1, f"docs/integrations.md/{title}: one python block expected"
        blocks[title] = found[0]
    return blocks


def test_each_integration_has_an_example() -> None:
    assert list(_examples()) == list(NEEDS)


def test_the_readme_names_each_integration_and_links_the_examples() -> None:
    section = README.read_text().split("\n## Integrations\n", 1)[1].split("\n## ", 1)[0]
    assert "(docs/integrations.md)" in section
    for title in NEEDS:
        assert f"* **{title}" in section, title


@pytest.mark.parametrize("title", list(NEEDS))
def test_readme_example_runs(title: str, tmp_path: Path) -> None:
    if NEEDS[title]:
        pytest.importorskip(NEEDS[title])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _examples()[title]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "stopped" in out.stdout or "PRUNED" in out.stdout or "epochs" in out.stdout
    if title == "Optuna":
        assert "PRUNED" in out.stdout and "COMPLETE" in out.stdout
    else:
        lines = out.stdout.strip().splitlines()
        assert lines[-1].startswith("lr=") and ("stopped" in lines[-1] or " at epoch " in lines[-1])
        assert " at epoch " not in lines[-2]  # the sane learning rate trained to its end
