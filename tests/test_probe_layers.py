import math

import torch

from bttackler.probe_layers import Layer, SampleMeans


def _layer(name: str) -> Layer:
    return Layer(name, "Linear", [], 0)


def test_sample_means_average_whole_matrices_and_skip_nan():
    a, b = _layer("a"), _layer("b")
    means = SampleMeans()
    entries = [(a, "grad"), (b, "grad")]
    means.add(entries, torch.tensor([[1.0, float("nan")], [3.0, 4.0]], dtype=torch.float64))
    means.add(entries, torch.tensor([[3.0, float("nan")], [5.0, 8.0]], dtype=torch.float64))
    got = means.means()
    assert got is not None
    assert got[0] == entries
    assert got[1][0, 0].item() == 2.0 and math.isnan(got[1][0, 1].item())
    assert got[1][1].tolist() == [4.0, 6.0]
    assert means.covers(a, "grad") and not means.covers(a, "weight")
    means.clear()
    assert means.means() is None


def test_sample_means_merge_entries_that_changed_within_the_epoch():
    a, b = _layer("a"), _layer("b")
    means = SampleMeans()
    means.add([(a, "grad"), (b, "grad")], torch.tensor([[1.0], [10.0]], dtype=torch.float64))
    means.add([(b, "grad")], torch.tensor([[20.0]], dtype=torch.float64))  # a had no gradient
    got = means.means()
    assert got is not None
    rows = {layer.name: row.tolist() for (layer, _), row in zip(got[0], got[1])}
    assert rows == {"a": [1.0], "b": [15.0]}
