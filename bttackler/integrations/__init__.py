"""Integrations: bttackler's diagnosis where users already train — a notebook, an Optuna
study, a Lightning ``Trainer``.

Where it runs: in the user's own training process (a notebook, an Optuna objective, a
Lightning fit), never in ``bttackler run``. What it may import: :mod:`bttackler.core`,
:mod:`bttackler.trialside` (the probe a trial uses) and :mod:`bttackler.diagnosis` (the
indicators and the guard); nothing of bttackler imports it (``import bttackler`` reaches
:mod:`.api` lazily, on first use of a public name).

- :mod:`.api`: :class:`~.api.Watcher` (a model's per-layer statistics per epoch, as
  :class:`~bttackler.core.history.TrialHistory`) and :class:`~.api.Judge` (the configured
  indicators and guard);
- :mod:`.optuna`: ``BTTacklerPruner`` and its per-trial monitor (``pip install bttackler[optuna]``);
- :mod:`.lightning`: ``BTTacklerCallback`` (``pip install bttackler[lightning]``).
"""
