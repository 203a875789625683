"""Judging the indicators on a zoo of recorded trainings, labelled by how they ended.

A zoo is a set of runs whose trainings ran to their end with diagnosis off (``--no-diagnosis``),
each tagged with a *family* (the unit of holding out: rules are tuned on some families and
checked on the others). Every training is replayed with the indicators (:func:`replay
<bttackler.analysis.replay.replay>`, the same objects a live run uses) and labelled by its
outcome, never by what it was meant to show:

* its *score*: where its final value lies between the chance level of its dataset (0) and the
  best final value any training of that dataset reached in the zoo (1);
* ``good``: a finite final value scoring at least :data:`GOOD_SCORE`: near the best;
* ``bad``: a non-finite final value (diverged) or a score below :data:`BAD_SCORE` (dead, at
  chance, or far too slow);
* ``fair``: in between: neither a false alarm nor a catch when claimed, reported apart.

Per indicator (alone, and all together as a live run judges): *false alarms* (problem verdicts
on good trainings, with the rule and its epoch), *catches* (problem verdicts on bad trainings:
their share and median epoch) and the share of the bad trainings' time the catches save.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bttackler.core.objective import Mode

GOOD_SCORE = 0.9
BAD_SCORE = 0.5
LABELS = ("good", "fair", "bad")


@dataclass(frozen=True)
class Claim:
    """One indicator's first verdict on a training (from a replay's ``claims``)."""

    indicator: str
    rule: str
    epoch: int  # counted from 1
    saved: float  # seconds of the training left when it came
    benign: bool

    @classmethod
    def from_replay(cls, claim: Mapping[str, Any]) -> Claim:
        return cls(
            indicator=str(claim["indicator"]), rule=str(claim["rule"]),
            epoch=int(claim["epoch"]), saved=float(claim.get("saved") or 0.0),
            benign=bool(claim["benign"]),
        )  # fmt: skip


@dataclass(frozen=True)
class Training:
    """One recorded training of the zoo and what the replay's indicators said of it.

    ``claims`` maps an indicator's short name (judging alone), and ``"all"`` (every enabled
    indicator together), to its first verdict on this training.
    """

    name: str
    family: str
    dataset: str
    mode: Mode  # "max" or "min" (a string is read as its Mode)
    final: float  # the last reported objective; NaN when it diverged or reported none
    epochs: int
    duration: float  # seconds from start to end
    claims: Mapping[str, Claim] = field(default_factory=dict)
    intent: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode.of(self.mode))


def outcome_scores(trainings: Sequence[Training], chance: Mapping[str, float]) -> dict[str, float]:
    """Each training's score: 0 at its dataset's ``chance`` value, 1 at the best final value
    of its dataset in ``trainings``; NaN for a non-finite final value. A dataset whose best
    is no better than chance scores every training 0."""
    best: dict[str, float] = {}
    for t in trainings:
        if not math.isfinite(t.final):
            continue
        if t.dataset not in best or t.mode.better(t.final, best[t.dataset]):
            best[t.dataset] = t.final
    scores: dict[str, float] = {}
    for t in trainings:
        top, base = best.get(t.dataset, math.nan), chance[t.dataset]
        span = top - base
        if not math.isfinite(t.final):
            scores[t.name] = math.nan
        elif not span or (span < 0) != (t.mode is Mode.MIN):
            scores[t.name] = 0.0
        else:
            scores[t.name] = (t.final - base) / span
    return scores


def label(score: float) -> str:
    """``good``, ``fair`` or ``bad`` for a score of :func:`outcome_scores`."""
    if not math.isfinite(score) or score < BAD_SCORE:
        return "bad"
    return "good" if score >= GOOD_SCORE else "fair"


@dataclass(frozen=True)
class Tally:
    """One indicator (or ``"all"``) over a set of trainings."""

    indicator: str
    good: int
    bad: int
    fair: int
    false_alarms: tuple[tuple[str, Claim], ...]  # (training, its problem verdict)
    fair_claims: int
    caught: tuple[tuple[str, Claim], ...]
    benign_on_bad: int  # bad trainings stopped only by a benign verdict (NMG: converged)
    bad_seconds: float
    saved_seconds: float

    @property
    def caught_share(self) -> float:
        return len(self.caught) / self.bad if self.bad else math.nan

    @property
    def median_epoch(self) -> float:
        epochs = [c.epoch for _, c in self.caught]
        return float(statistics.median(epochs)) if epochs else math.nan

    @property
    def saved_share(self) -> float:
        return self.saved_seconds / self.bad_seconds if self.bad_seconds else math.nan

    def to_json(self) -> dict[str, Any]:
        def claim(name: str, c: Claim) -> dict[str, Any]:
            return {"training": name, "indicator": c.indicator, "epoch": c.epoch, "rule": c.rule}

        return {
            "indicator": self.indicator, "good": self.good, "bad": self.bad, "fair": self.fair,
            "false_alarms": [claim(n, c) for n, c in self.false_alarms],
            "fair_claims": self.fair_claims, "caught": len(self.caught),
            "caught_share": _num(self.caught_share), "median_epoch": _num(self.median_epoch),
            "benign_on_bad": self.benign_on_bad, "saved_share": _num(self.saved_share),
            "caught_trainings": [claim(n, c) for n, c in self.caught],
        }  # fmt: skip


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def tally(indicator: str, trainings: Iterable[Training], labels: Mapping[str, str]) -> Tally:
    """What ``indicator`` (a short name, or ``"all"``) said of ``trainings``."""
    counts = dict.fromkeys(LABELS, 0)
    false_alarms: list[tuple[str, Claim]] = []
    caught: list[tuple[str, Claim]] = []
    fair_claims = benign_on_bad = 0
    bad_seconds = saved = 0.0
    for t in trainings:
        kind = labels[t.name]
        counts[kind] += 1
        c = t.claims.get(indicator)
        if kind == "bad":
            bad_seconds += t.duration
        if c is None:
            continue
        if kind == "bad":
            if c.benign:
                benign_on_bad += 1
            else:
                caught.append((t.name, c))
            saved += min(c.saved, t.duration)
        elif c.benign:
            continue
        elif kind == "good":
            false_alarms.append((t.name, c))
        else:
            fair_claims += 1
    return Tally(
        indicator, counts["good"], counts["bad"], counts["fair"], tuple(false_alarms),
        fair_claims, tuple(caught), benign_on_bad, bad_seconds, saved,
    )  # fmt: skip


def held_out_split(
    trainings: Sequence[Training], tuning: Iterable[str]
) -> dict[str, list[Training]]:
    """The trainings of the tuning families, of the others (held out), and all of them."""
    tune = set(tuning)
    return {
        "held-out": [t for t in trainings if t.family not in tune],
        "tuning": [t for t in trainings if t.family in tune],
        "all": list(trainings),
    }


__all__ = [
    "BAD_SCORE",
    "GOOD_SCORE",
    "Claim",
    "Tally",
    "Training",
    "held_out_split",
    "label",
    "outcome_scores",
    "tally",
]
