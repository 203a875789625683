"""``python -m bttackler.cli``: the same as the ``bttackler`` command."""

from bttackler.cli import main

main()
