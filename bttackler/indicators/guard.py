"""The guard: never stop a trial whose training loss is among the best at its epoch count.

From the paper authors' code (``if_top_train_loss``): indicators that may mistake a good trial
for a bad one (ERG, PLC, LAR, NMG there) are overruled for a trial whose training loss is in
the best 10% of the losses all trials reached after the same number of epochs, once at least
10 trials have got that far.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def is_protected(
    train_loss: float,
    cohort_losses: Sequence[float],
    *,
    top_fraction: float = 0.1,
    min_trials: int = 10,
) -> bool:
    """Whether ``train_loss`` is among the best ``top_fraction`` of ``cohort_losses``.

    Args:
        train_loss: This trial's training loss after ``n`` epochs (lower is better).
        cohort_losses: The training losses of every trial that reached ``n`` epochs, this
            trial included.
        top_fraction: Share of the cohort protected, in (0, 1].
        min_trials: Smallest cohort that protects anybody (>= 1); smaller: nobody.

    Returns:
        True when fewer than ``top_fraction * len(cohort_losses)`` cohort losses are strictly
        better than ``train_loss``. Ties are treated alike: all trials tied at a protected
        loss are protected (with 10 trials, the best one and any tied with it). A NaN
        ``train_loss`` is never protected; NaN losses in the cohort count towards its size
        and are never better than anybody.

    Raises:
        ValueError: ``top_fraction`` or ``min_trials`` is out of range.
    """
    if isinstance(top_fraction, bool) or not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be a number in (0, 1], got {top_fraction!r}")
    if isinstance(min_trials, bool) or not isinstance(min_trials, int) or min_trials < 1:
        raise ValueError(f"min_trials must be an integer >= 1, got {min_trials!r}")
    if math.isnan(train_loss) or len(cohort_losses) < min_trials:
        return False
    better = sum(1 for loss in cohort_losses if loss < train_loss)
    # The slack keeps 0.1 * 30 = 3.0000000000000004 from protecting a fourth trial.
    return better < top_fraction * len(cohort_losses) - 1e-9
