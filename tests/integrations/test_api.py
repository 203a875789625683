"""The public Python API: a light ``import bttackler``, Watcher + Judge on real training,
and the one-line ImportError of an integration whose extra is missing."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import bttackler

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import diagnosis_task as task  # noqa: E402


def _train(behaviour: str, judge: bttackler.Judge, epochs: int = task.MAX_EPOCHS) -> tuple:
    torch.manual_seed(0)
    model, optimizer, noise = task.build(behaviour)
    x, y, _, _ = task._data(noise)
    watcher = bttackler.Watcher(model, max_epochs=task.MAX_EPOCHS, trial_id=1)
    verdict = None
    with watcher:
        for epoch in range(epochs):
            total = 0.0
            for start in range(0, task.N_TRAIN, task.BATCH):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(
                    model(x[start : start + task.BATCH]), y[start : start + task.BATCH]
                )
                loss.backward()
                optimizer.step()
                total += float(loss.detach())
            history = watcher.end_epoch(epoch, train_loss=total / 8)
            verdict = judge.judge(history)
            if verdict is not None:
                break
    return watcher, verdict


def test_import_is_light_and_lists_its_public_names() -> None:
    code = (
        "import sys, bttackler; names = [getattr(bttackler, n) for n in bttackler.__all__[:5]];"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert set(bttackler.__all__) >= {"Watcher", "Judge", "TrialHistory", "Verdict"}
    assert all(getattr(bttackler, name).__doc__ for name in bttackler.__all__)
    with pytest.raises(AttributeError):
        bttackler.Probe  # noqa: B018 - private stays private


def test_watcher_records_the_probe_statistics_and_judge_finds_nan() -> None:
    watcher, verdict = _train("nan", bttackler.Judge())
    assert verdict is not None and verdict.indicator == "AGV"
    assert bttackler.reason(verdict).startswith("AGV at epoch 1: ")
    history = watcher.history
    assert history.trial_id == 1 and history.epochs[0].weights and history.epochs[0].grads


def test_healthy_training_gets_no_verdict_and_every_epoch() -> None:
    watcher, verdict = _train("healthy", bttackler.Judge())
    assert verdict is None
    epochs = watcher.history.epochs
    assert len(epochs) == task.MAX_EPOCHS
    assert [s.index for s in epochs[-1].weights] == [0, 2, 4]  # Linear layers, forward order
    assert epochs[-1].activations and epochs[-1].time > epochs[0].time


def test_judge_takes_a_mapping_over_the_defaults() -> None:
    judge = bttackler.Judge({"indicators": {"enabled": ["PLC"]}})
    assert judge.indicators == ["PLC"]
    _, verdict = _train("frozen", judge, epochs=4)
    assert verdict is not None and verdict.indicator == "PLC"


def test_judge_guard_reads_a_given_cohort() -> None:
    judge = bttackler.Judge({"indicators": {"enabled": ["PLC"]}})
    watcher, verdict = _train("frozen", bttackler.Judge({"indicators": {"enabled": []}}), 3)
    history = watcher.history
    assert judge.judge(history) is not None  # PLC is guarded; alone it is not protected
    loss = history.epochs[-1].metrics["train_loss"]
    assert judge.judge(history, [loss] + [loss + 1] * 9) is None  # best of 10: spared


def test_watcher_rejects_a_non_number_and_a_closed_watcher() -> None:
    watcher = bttackler.Watcher(nn.Linear(2, 2), max_epochs=3)
    with pytest.raises(TypeError, match="Watcher.end_epoch: metric 'train_loss'"):
        watcher.end_epoch(0, train_loss="low")
    watcher.close()
    with pytest.raises(RuntimeError):
        watcher.end_epoch(0, train_loss=math.nan)


@pytest.mark.parametrize("extra", ["optuna", "lightning"])
def test_a_missing_extra_says_what_to_install(extra: str) -> None:
    blocked = "lightning.pytorch" if extra == "lightning" else "optuna"
    code = f"import sys; sys.modules[{blocked!r}] = None\nimport bttackler.integrations.{extra}\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1
    assert f"ImportError: bttackler.integrations.{extra} needs" in out.stderr
    assert f"pip install 'bttackler[{extra}]'" in out.stderr


def test_the_integrations_extras_are_declared_and_pinned() -> None:
    """``bttackler[optuna]`` and ``bttackler[lightning]`` exist, and requirements.lock pins
    them so that ``make test`` installs and tests the integrations."""
    import tomllib

    root = Path(bttackler.__file__).resolve().parent.parent
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    lock = {
        line.split("==")[0].lower()
        for line in (root / "requirements.lock").read_text().splitlines()
        if "==" in line
    }
    for extra in ("optuna", "lightning"):
        assert [dep.split(">")[0] for dep in extras[extra]] == [extra]
        assert extra in lock
    core = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not any(dep.startswith(("optuna", "lightning")) for dep in core)
