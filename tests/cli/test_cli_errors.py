"""Bad input: one clear line on stderr, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAULT_TASK = str(ROOT / "tests" / "fixtures" / "fault_task.py")


def bt(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bttackler.cli", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd,
    )  # fmt: skip


def assert_usage_error(out: subprocess.CompletedProcess, *fragments: str) -> None:
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def results(tmp_path):
    return tmp_path / "results"


def run(results: Path, *args: str) -> subprocess.CompletedProcess:
    return bt("run", "--results-dir", str(results), "--name", "x", "--plain", *args)


def test_unknown_task(results):
    assert_usage_error(run(results, "--task", "nope"), "unknown task 'nope'", "digits")
    assert not results.exists()


def test_unknown_method(results):
    out = run(results, "--task", FAULT_TASK, "--method", "bogus")
    assert_usage_error(out, "unknown method 'bogus'")
    assert not results.exists()


@pytest.mark.parametrize("budget", ["6x", "-1h", "0", "soon"])
def test_bad_budget(results, budget):
    assert_usage_error(run(results, "--task", FAULT_TASK, "--budget", budget), "budget")
    assert not results.exists()


def test_malformed_space_yaml(results, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("x: {_type: uniform, _value: [0, 1]\n  bad")
    assert_usage_error(run(results, "--task", FAULT_TASK, "--space", str(space)), "space.yaml")
    assert not results.exists()


def test_wrong_typed_space(results, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("x: {_type: uniform, _value: [1, zero]}\n")
    out = run(results, "--task", FAULT_TASK, "--space", str(space))
    assert_usage_error(out, "space.yaml", "'x'")


def test_malformed_config(results, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[run\n")
    out = run(results, "--task", FAULT_TASK, "--config", str(config))
    assert_usage_error(out, "c.toml", "not valid TOML")


def test_wrong_typed_config(results, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[run]\nworkers = "many"\n')
    assert_usage_error(run(results, "--task", FAULT_TASK, "--config", str(config)), "workers")


def test_unknown_count_rule_in_config_or_flag(results, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[run]\ncount = "final"\n')
    out = run(results, "--task", FAULT_TASK, "--config", str(config))
    assert_usage_error(out, "run.count must be one of last, best", "'final'")
    assert not results.exists()
    assert_usage_error(run(results, "--task", FAULT_TASK, "--count", "final"), "--count")


def test_task_without_run(results, tmp_path):
    task = tmp_path / "t.py"
    task.write_text('OBJECTIVE = "acc"\nMODE = "max"\nMAX_EPOCHS = 2\n')
    assert_usage_error(run(results, "--task", str(task)), "no run(params, trial)")


def test_task_that_fails_to_import(results, tmp_path):
    task = tmp_path / "t.py"
    task.write_text("import not_a_module_anywhere\n")
    assert_usage_error(run(results, "--task", str(task)), "failed to import")


def test_existing_results_dir_without_resume(results):
    (results / "x").mkdir(parents=True)
    out = run(results, "--task", FAULT_TASK)
    assert_usage_error(out, "already exists", "--resume")
    assert list((results / "x").iterdir()) == []


def test_resume_of_something_that_is_not_a_run(tmp_path):
    assert_usage_error(bt("run", "--resume", str(tmp_path)), "not a bttackler run")


def test_resume_with_other_flags(tmp_path):
    assert_usage_error(bt("run", "--resume", str(tmp_path), "--method", "gp"), "--resume")


def test_unknown_option_is_one_line_exit_2():
    assert_usage_error(bt("run", "--bogus"), "--bogus")


def test_trials_of_a_missing_run(tmp_path):
    assert_usage_error(bt("trials", str(tmp_path / "none")), "not a bttackler run")


def test_help_explains_commands():
    out = bt("--help")
    assert out.returncode == 0
    for command in ("run", "trials", "tasks"):
        assert command in out.stdout
    out = bt("run", "--help")
    assert out.returncode == 0 and "--budget" in out.stdout and "Examples" in out.stdout


def test_tasks_lists_the_default_task():
    out = bt("tasks")
    assert out.returncode == 0, out.stderr
    assert "digits" in out.stdout and "val_acc" in out.stdout


def test_missing_dataset_is_one_line_before_anything_is_written(results, tmp_path):
    import os

    env = {**os.environ, "HOME": str(tmp_path), "BTTACKLER_NO_DOWNLOAD": "1"}
    env.pop("BTTACKLER_DATA", None)
    out = subprocess.run(
        [sys.executable, "-m", "bttackler.cli", "run", "--task", "cifar10cnn", "--results-dir",
         str(results), "--name", "x", "--plain"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip
    assert_usage_error(out, "cifar-10-python.tar.gz", "--data-dir")
    assert not results.exists()


def test_unknown_task_option(results):
    out = run(results, "--task", "digits", "--task-opt", "epoch=3")
    assert_usage_error(out, "unknown --task-opt epoch")
    assert not results.exists()


def test_a_malformed_value_of_a_known_task_option_stops_before_any_trial(results):
    out = run(results, "--task", "digits", "--task-opt", "epochs=abc", "--budget", "5s")
    assert_usage_error(out, "--task-opt epochs=abc", "integer")
    assert not results.exists()
