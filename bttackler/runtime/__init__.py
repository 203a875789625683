"""Run time: the main process of ``bttackler run`` — experiment setup and resume, the
scheduler and its worker slots (which fork the trials), the monitor thread that drains the
shared-memory ring into histories, the searchers, and the live view.

Where it runs: the main process, its threads and the worker slots. What it may import: every
stage but :mod:`bttackler.cli` and :mod:`bttackler.analysis`.
"""
