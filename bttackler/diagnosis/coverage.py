"""What diagnosis cannot see in a task: the warnings a run gives once, so that a user never
believes trials were diagnosed when the task gave the indicators nothing to judge."""

from __future__ import annotations

from collections.abc import Iterable

# Indicators (by short name) that read per-layer statistics, and those that read train_loss.
NEEDS_LAYER_STATS = ("AGV", "EAG", "ERG", "LAR", "TWU", "VGM")
NEEDS_TRAIN_LOSS = ("PLC", "ULC", "NMG", "SAC")


def _names(names: Iterable[str]) -> str:
    listed = list(names)
    return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]


def blind_spots(
    enabled: Iterable[str],
    *,
    saw_layer_stats: bool,
    reported: Iterable[str],
    loss_metric: str = "train_loss",
) -> list[str]:
    """One warning per missing input, naming the enabled indicators it blinds and why.

    Args:
        enabled: Short names of the indicators the run judges with.
        saw_layer_stats: Whether a trial's epochs carried any per-layer statistics.
        reported: The metric names the trial reported.
        loss_metric: The metric the loss indicators and the guard read.
    """
    enabled = list(enabled)
    warnings = []
    blind = [n for n in NEEDS_LAYER_STATS if n in enabled]
    if blind and not saw_layer_stats:
        warnings.append(
            "no per-layer statistics were recorded (does the task call trial.watch(model)?): "
            f"{_names(blind)} cannot judge its trials"
        )
    blind = [n for n in NEEDS_TRAIN_LOSS if n in enabled]
    reported = sorted(set(reported))
    if blind and loss_metric not in reported:
        said = ", ".join(reported) or "nothing"
        warnings.append(
            f"the task does not report {loss_metric} (it reported: {said}): "
            f"{_names([*blind, 'the guard'])} cannot judge its trials"
        )
    return warnings
