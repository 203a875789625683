"""Dataset loaders for the built-in tasks: find locally, else download, always verify.

``python -m bttackler.tasks.data [--data-dir DIR]`` fetches every dataset it can and says what
it could not (``make data`` runs it).
"""
