"""``bttackler dashboard``: a local web page over runs' stores, finished or running, and the
per-trial figures ``bttackler report RUN --trial N`` writes as PNG.

- :mod:`.data`: the JSON documents, read from stores opened read-only;
- :mod:`.server`: the standard library's HTTP server with the JSON endpoints;
- :mod:`.figures`: a trial's figures drawn with matplotlib;
- ``static/``: the page, its script, and uPlot (MIT, vendored with its licence: no network
  at run time, no build step).

Like the rest of :mod:`bttackler.analysis`, it imports :mod:`bttackler.core` and
:mod:`bttackler.diagnosis` only.
"""
