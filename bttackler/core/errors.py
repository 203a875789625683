"""Errors the user caused (bad input): printed as one line, exit code 2, no traceback."""

from __future__ import annotations


class BttacklerError(Exception):
    """A problem with the user's input (file, flag, task). The CLI prints ``error: <message>``."""


class SearchExhausted(Exception):  # noqa: N818 - a state, not a failure
    """A search method's ``ask`` has nothing left to propose (a grid whose every combination
    was asked): a run ends once its running trials have; a simulated search starts no more."""
