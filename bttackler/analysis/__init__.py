"""Analysis after the fact: the paper's measures (Top10HR, TSBA, ...), its tables, ``report``,
``compare`` and ``replay``, all read from finished runs' stores.

Where it runs: in the main process, on runs that exist. What it may import:
:mod:`bttackler.core` and :mod:`bttackler.diagnosis` (``replay`` re-judges histories) — never
the trial side or the run time.
"""
