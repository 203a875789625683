"""Which parameters matter: fANOVA importance through Optuna, on an in-memory study of a run.

``optuna.importance.get_param_importances`` with its ``FanovaImportanceEvaluator`` (random
forests fitted on the trials, the variance of the objective decomposed per parameter:
Hutter et al., 2014) on a study built from the run's counted trials, for the objective and for
"the trial was bad" (1 or 0). Optuna is an extra (``pip install 'bttackler[optuna]'``): without
it, :func:`importances` returns None and ``explain`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from bttackler.core.space import Parameter, SearchSpace


def _distribution(p: Parameter, seen: Sequence[Any]) -> Any:
    import optuna.distributions as d

    if p.type == "choice":
        return d.CategoricalDistribution(list(p.values))
    numbers = [float(v) for v in seen if isinstance(v, int | float) and not isinstance(v, bool)]
    low = min([*numbers, p.low] if math.isfinite(p.low) else numbers)
    high = max([*numbers, p.high] if math.isfinite(p.high) else numbers)
    if p.type == "randint" or (p.kind == "discrete" and p.integral):
        return d.IntDistribution(int(low), max(int(high), int(low) + 1))
    log = p.is_log and low > 0
    return d.FloatDistribution(low, high if high > low else low + 1.0, log=log)


def importances(
    space: SearchSpace,
    configs: Sequence[Mapping[str, Any]],
    values: Sequence[float],
    *,
    direction: str = "maximize",
    seed: int = 0,
) -> dict[str, float] | None:
    """fANOVA importance of each parameter for ``values`` (summing to 1, largest first), or
    None without Optuna or with fewer than two distinct finite values."""
    try:
        import optuna
    except ImportError:
        return None
    rows = [(c, v) for c, v in zip(configs, values, strict=True) if math.isfinite(v)]
    if len({v for _, v in rows}) < 2:
        return None
    dists = {p.name: _distribution(p, [c.get(p.name) for c, _ in rows]) for p in space.parameters}
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction=optuna.study.StudyDirection[direction.upper()])
    for params, value in rows:
        kept = {k: v for k, v in params.items() if k in dists}
        if set(kept) != set(dists):
            continue
        study.add_trial(optuna.trial.create_trial(params=kept, distributions=dists, value=value))
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return {k: float(v) for k, v in found.items()}
