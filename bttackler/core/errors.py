"""Errors the user caused (bad input): printed as one line, exit code 2, no traceback."""

from __future__ import annotations


class BttacklerError(Exception):
    """A problem with the user's input (file, flag, task). The CLI prints ``error: <message>``."""
