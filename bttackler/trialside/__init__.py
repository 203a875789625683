"""The trial side: what runs inside a forked trial process — the ``trial`` object a task
reports to, and the probe that hooks the model and turns its batches into per-epoch records
(layer discovery, sampling budget, tensor statistics and their compiled kernel).

Where it runs: in the trial process, on the training thread. What it may import:
:mod:`bttackler.core` only (it must stay light and fork-safe).
"""
