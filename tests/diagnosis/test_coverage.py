"""The warnings a run gives when its task leaves indicators nothing to judge."""

from __future__ import annotations

from bttackler.diagnosis.coverage import blind_spots

ALL = ["AGV", "EAG", "ERG", "PLC", "LAR", "ULC", "NMG", "TWU", "VGM", "SAC"]


def test_a_watched_task_reporting_train_loss_gets_no_warning() -> None:
    assert blind_spots(ALL, saw_layer_stats=True, reported={"train_loss", "val_acc"}) == []


def test_no_watch_names_the_indicators_that_read_layer_statistics() -> None:
    (warning,) = blind_spots(ALL, saw_layer_stats=False, reported={"train_loss"})
    assert "trial.watch(model)" in warning
    assert "AGV, EAG, ERG, LAR, TWU and VGM cannot judge" in warning


def test_no_train_loss_names_what_was_reported_and_the_blind_indicators() -> None:
    (warning,) = blind_spots(["PLC", "AGV"], saw_layer_stats=True, reported={"val_acc", "loss"})
    assert "does not report train_loss (it reported: loss, val_acc)" in warning
    assert "PLC and the guard cannot judge" in warning


def test_only_enabled_indicators_count() -> None:
    assert blind_spots(["AGV"], saw_layer_stats=True, reported=set()) == []
    assert blind_spots([], saw_layer_stats=False, reported=set()) == []
