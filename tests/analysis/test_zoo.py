"""The zoo judge's logic: outcome labels from final values, and per-indicator tallies of false
alarms, catches and time saved, held out by family."""

from __future__ import annotations

import math

import pytest

from bttackler.analysis.zoo import (
    Claim,
    Training,
    held_out_split,
    label,
    outcome_scores,
    tally,
)


def training(name: str, final: float, *, family: str = "mlp", dataset: str = "digits",
             mode: str = "max", claims: dict[str, Claim] | None = None,
             duration: float = 100.0) -> Training:  # fmt: skip
    return Training(name, family, dataset, mode, final, 10, duration, claims or {})


def claim(indicator: str, epoch: int = 1, saved: float = 90.0, benign: bool = False) -> Claim:
    return Claim(indicator, f"{indicator} rule", epoch, saved, benign)


def test_scores_run_from_chance_to_the_best_of_the_dataset() -> None:
    zoo = [training("a", 0.9), training("b", 0.5), training("c", 0.1), training("d", math.nan),
           training("r1", 3000.0, dataset="reg", mode="min"),
           training("r2", 4500.0, dataset="reg", mode="min")]  # fmt: skip
    scores = outcome_scores(zoo, {"digits": 0.1, "reg": 6000.0})
    assert scores["a"] == pytest.approx(1.0)
    assert scores["b"] == pytest.approx(0.5)
    assert scores["c"] == pytest.approx(0.0)
    assert math.isnan(scores["d"])
    assert scores["r1"] == pytest.approx(1.0)
    assert scores["r2"] == pytest.approx(0.5)  # half way from 6000 to 3000


def test_a_dataset_whose_best_is_no_better_than_chance_scores_zero() -> None:
    zoo = [training("a", 0.08), training("b", 0.1)]
    assert outcome_scores(zoo, {"digits": 0.1}) == {"a": 0.0, "b": 0.0}


def test_labels() -> None:
    assert label(0.95) == label(0.9) == "good"
    assert label(0.7) == "fair"
    assert label(0.49) == label(math.nan) == "bad"


def test_tally_counts_false_alarms_catches_and_time_saved() -> None:
    zoo = [
        training("good-killed", 0.9, claims={"VGM": claim("VGM", 1)}),
        training("good-converged", 0.9, claims={"NMG": claim("NMG", 8, benign=True)}),
        training("bad-caught", 0.1, claims={"VGM": claim("VGM", 2, saved=80.0)}),
        training("bad-caught-late", 0.1, claims={"VGM": claim("VGM", 5, saved=500.0)}),
        training("bad-missed", 0.1),
        training("fair-claimed", 0.6, claims={"VGM": claim("VGM")}),
    ]
    labels = {t.name: label(s) for t, s in zip(zoo, [1, 1, 0, 0, 0, 0.7], strict=True)}
    t = tally("VGM", zoo, labels)
    assert (t.good, t.bad, t.fair) == (2, 3, 1)
    assert [name for name, _ in t.false_alarms] == ["good-killed"]
    assert t.fair_claims == 1
    assert [name for name, _ in t.caught] == ["bad-caught", "bad-caught-late"]
    assert t.caught_share == pytest.approx(2 / 3)
    assert t.median_epoch == 3.5
    assert t.saved_share == pytest.approx((80 + 100) / 300)  # saved never exceeds the duration
    nmg = tally("NMG", zoo, labels)
    assert not nmg.false_alarms and not nmg.caught  # benign: neither
    assert math.isnan(tally("X", [], {}).caught_share)
    assert t.to_json()["false_alarms"][0] == {
        "training": "good-killed", "indicator": "VGM", "epoch": 1, "rule": "VGM rule"
    }  # fmt: skip


def test_held_out_split_keeps_families_apart() -> None:
    zoo = [training("a", 1, family="mlp"), training("b", 1, family="lstm")]
    groups = held_out_split(zoo, ["mlp"])
    assert [t.name for t in groups["tuning"]] == ["a"]
    assert [t.name for t in groups["held-out"]] == ["b"]
    assert len(groups["all"]) == 2
