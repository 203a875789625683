"""Contracts shared by every stage: errors, configuration, search spaces, task loading, the
shared-memory ring's records, trial histories, verdicts and the run's SQLite store.

Where it runs: everywhere, the forked trial processes included. What it may import: nothing
of bttackler outside :mod:`bttackler.core` (and no torch: trials import it before forking).
"""
