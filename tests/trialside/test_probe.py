from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from torch import Tensor, nn

from bttackler.core.history import STAT_NAMES
from bttackler.trialside.probe import Probe
from bttackler.trialside.tensor_stats import tensor_stats

Record = tuple[str, int, str, list[float]]


class Recorder:
    def __init__(self) -> None:
        self.records: list[Record] = []

    def __call__(self, kind: str, index: int, name: str, values: Sequence[float]) -> None:
        self.records.append((kind, index, name, list(values)))

    def of(self, kind: str) -> list[Record]:
        return [r for r in self.records if r[0] == kind]

    def value(self, kind: str, name: str) -> list[float]:
        (rec,) = [r for r in self.records if r[0] == kind and r[2] == name]
        return rec[3]


def train(model: nn.Module, inputs: Sequence[Tensor], *, step: bool = False) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()
    for x in inputs:
        opt.zero_grad()
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        out.float().pow(2).mean().backward()
        if step:
            opt.step()


class Shuffled(nn.Module):
    """Modules declared in an order different from the one they are called in."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(8, 2)
        self.act = nn.Tanh()
        self.body = nn.Linear(6, 8)
        self.stem = nn.Conv1d(1, 2, 3)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x).flatten(1)  # (n, 1, 5) -> (n, 2, 3) -> (n, 6)
        return self.head(self.act(self.body(h)))


def test_layers_follow_forward_order_and_are_emitted_once() -> None:
    rec = Recorder()
    model = Shuffled()
    probe = Probe(model, rec, stats_every=1, overhead_budget=None)
    assert probe.layers == []
    train(model, [torch.randn(4, 1, 5) for _ in range(3)])
    want = [(0, "stem", "Conv1d"), (1, "body", "Linear"), (2, "act", "Tanh"), (3, "head", "Linear")]
    assert probe.layers == want
    assert [(r[1], r[2], r[3]) for r in rec.of("layer")] == [
        (0, "stem", [8.0]),
        (1, "body", [56.0]),
        (2, "act", [0.0]),
        (3, "head", [18.0]),
    ]
    probe.flush(0)
    assert [r[1] for r in rec.of("weight")] == [0, 1, 3]
    assert [r[1] for r in rec.of("grad")] == [0, 1, 3]
    assert all(len(r[3]) == len(STAT_NAMES) for r in rec.of("weight") + rec.of("grad"))
    assert len(rec.of("layer")) == 4  # not re-emitted by later epochs


def test_weight_stats_are_those_of_the_weight_at_flush() -> None:
    rec = Recorder()
    model = nn.Sequential(nn.Linear(5, 3))
    probe = Probe(model, rec)
    model(torch.randn(2, 5))
    probe.flush(0)
    want = tensor_stats(model[0].weight).tolist()
    assert rec.value("weight", "0") == pytest.approx(want, nan_ok=True)


def test_grad_stats_are_averaged_over_sampled_batches() -> None:
    rec = Recorder()
    model = nn.Sequential(nn.Linear(3, 4))
    probe = Probe(model, rec, stats_every=2, overhead_budget=None)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    seen = []
    for i in range(5):
        opt.zero_grad()
        model(torch.randn(6, 3) * (i + 1)).pow(2).mean().backward()
        seen.append(tensor_stats(model[0].weight.grad))
    probe.flush(0)
    sampled = torch.stack([seen[0], seen[2], seen[4]])
    want = sampled.mean(0)
    for name in ("max", "abs_max"):
        want[STAT_NAMES.index(name)] = sampled[:, STAT_NAMES.index(name)].max()
    want[STAT_NAMES.index("min")] = sampled[:, STAT_NAMES.index("min")].min()
    assert rec.value("grad", "0") == pytest.approx(want.tolist(), rel=1e-6)


def test_epoch_extremes_combine_by_max_and_min_and_counts_by_sum() -> None:
    """AGV reads the epoch's gradient abs_max: one big sampled batch must not be diluted
    by the others (nor min raised, nor the NaN/Inf counts divided)."""
    rec = Recorder()
    model = nn.Sequential(nn.Linear(3, 4))
    probe = Probe(model, rec, stats_every=1, overhead_budget=None)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    seen = []
    for i in range(4):
        opt.zero_grad()
        scale = 1000.0 if i == 2 else 1.0
        model(torch.randn(6, 3) * scale).pow(2).mean().backward()
        seen.append(tensor_stats(model[0].weight.grad))
    probe.flush(0)
    got = dict(zip(STAT_NAMES, rec.value("grad", "0")))
    sampled = torch.stack(seen[probe_first_sample(len(seen)) :])
    assert got["abs_max"] == pytest.approx(sampled[:, STAT_NAMES.index("abs_max")].max().item())
    assert got["max"] == pytest.approx(sampled[:, STAT_NAMES.index("max")].max().item())
    assert got["min"] == pytest.approx(sampled[:, STAT_NAMES.index("min")].min().item())
    assert got["mean"] == pytest.approx(sampled[:, STAT_NAMES.index("mean")].mean().item())


def probe_first_sample(batches: int) -> int:
    """The first batch of an epoch the probe samples (0 or 1: see the probe's docs)."""
    return 0


def test_relu_inactive_ratio_with_known_dead_units_ignores_eval_passes() -> None:
    lin = nn.Linear(4, 4)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([1.0, -1.0, 2.0, -3.0]))  # units 1 and 3 always dead
    model = nn.Sequential(lin, nn.ReLU(), nn.Linear(4, 1), nn.Sigmoid())
    rec = Recorder()
    probe = Probe(model, rec, stats_every=1, overhead_budget=None)
    train(model, [torch.randn(8, 4) for _ in range(3)])
    model.eval()
    with torch.no_grad():
        lin.bias.fill_(-1.0)  # an eval pass with every unit dead must not be counted
        model(torch.randn(8, 4))
    probe.flush(0)
    assert rec.value("activation", "1") == [0.5]
    # sigmoid(w * [1, 0, 2, 0] + b) with small default weights: not saturated
    assert rec.value("activation", "3") == [0.0]


def test_tanh_saturation_ratio() -> None:
    lin = nn.Linear(1, 2)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([10.0, 0.1]))  # tanh(10) saturated, tanh(0.1) not
    model = nn.Sequential(lin, nn.Tanh())
    rec = Recorder()
    probe = Probe(model, rec)
    train(model, [torch.randn(3, 1)])
    probe.flush(0)
    assert rec.value("activation", "1") == [0.5]


def test_inactive_ratio_of_a_big_output_is_estimated_on_a_sample() -> None:
    lin = nn.Linear(1, 1000)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.where(torch.arange(1000) % 4 == 0, 1.0, -1.0))  # 3/4 dead
    model = nn.Sequential(lin, nn.ReLU())
    rec = Recorder()
    probe = Probe(model, rec, sample_size=256, overhead_budget=None)  # sampled above 16,384
    train(model, [torch.randn(20, 1)])  # 20,000 outputs
    probe.flush(0)
    (ratio,) = rec.value("activation", "1")
    assert ratio != 0.75  # a sample of 256: not the exact count
    assert ratio == pytest.approx(0.75, abs=0.1)


def test_nonfinite_gradient_is_reported_within_the_epoch_once_per_layer() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    rec = Recorder()
    probe = Probe(model, rec, check_every=4, check_seconds=0, overhead_budget=None)
    bad_from = 5

    def poison(p: Tensor) -> None:
        if batch >= bad_from and p.grad is not None:
            p.grad[0, 0] = float("nan")
            p.grad[0, 1] = float("inf")

    model[2].weight.register_post_accumulate_grad_hook(poison)
    for batch in range(12):
        model.zero_grad()
        model(torch.randn(4, 3)).sum().backward()
        if batch == 7:  # the check after batch index 7 (the 8th backward) sees it
            assert [(r[1], r[3]) for r in rec.of("nonfinite")] == [(2, [1.0, 1.0, 7.0])]
        if batch < 7:
            assert rec.of("nonfinite") == []
    assert len(rec.of("nonfinite")) == 1
    probe.flush(0)
    grad = rec.value("grad", "2")
    assert grad[STAT_NAMES.index("nan_count")] > 0
    # next epoch: reported again
    model(torch.randn(4, 3)).sum().backward()
    probe.flush(1)
    assert [r[3][2] for r in rec.of("nonfinite")] == [7.0, 0.0]


def test_fast_batches_are_checked_at_most_every_check_seconds() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    rec = Recorder()
    probe = Probe(model, rec, check_every=2, check_seconds=60.0, overhead_budget=None)
    backwards = []

    def poison(p: Tensor) -> None:
        if backwards:  # from batch 1 (batch 0 is sampled: its statistics are a check)
            assert p.grad is not None
            p.grad.fill_(float("nan"))
        backwards.append(1)

    model[2].weight.register_post_accumulate_grad_hook(poison)
    for _ in range(6):  # bad from batch 1, due for a check every 2; 60 s not yet passed
        model.zero_grad()
        model(torch.randn(4, 3)).sum().backward()
    assert rec.of("nonfinite") == []
    probe.flush(0)  # the check at flush is always made
    assert [(r[1], r[3][2]) for r in rec.of("nonfinite")] == [(2, 5.0)]


def test_inf_counts_when_nan_injected_before_hook() -> None:
    model = nn.Sequential(nn.Linear(2, 2))
    rec = Recorder()
    probe = Probe(model, rec, check_every=1)
    model(torch.full((1, 2), float("inf"))).sum().backward()
    (nonfinite,) = rec.of("nonfinite")
    assert nonfinite[3][2] == 0.0
    assert nonfinite[3][0] + nonfinite[3][1] > 0
    probe.close()


def test_lstm_and_embedding_layers() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.out = nn.Linear(8, 3)
            self.rnn = nn.LSTM(4, 8, num_layers=2, batch_first=True)
            self.emb = nn.Embedding(10, 4)

        def forward(self, x: Tensor) -> Tensor:
            h, _ = self.rnn(self.emb(x))
            return self.out(h[:, -1])

    model = Net()
    rec = Recorder()
    probe = Probe(model, rec, stats_every=1, overhead_budget=None)
    train(model, [torch.randint(0, 10, (2, 5))])
    probe.flush(0)
    assert probe.layers == [(0, "emb", "Embedding"), (1, "rnn", "LSTM"), (2, "out", "Linear")]
    n_lstm = sum(p.numel() for p in model.rnn.parameters())
    assert rec.value("layer", "rnn") == [float(n_lstm)]
    assert [r[2] for r in rec.of("grad")] == ["emb", "rnn", "out"]


def test_transformer_encoder_projections_are_layers() -> None:
    model = nn.Sequential(
        nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, batch_first=True),
        nn.Linear(8, 2),
    )
    rec = Recorder()
    probe = Probe(model, rec, stats_every=1, overhead_budget=None)
    train(model, [torch.randn(2, 5, 8) for _ in range(2)])
    model.eval()
    with torch.no_grad():
        model(torch.randn(2, 5, 8))  # the fast path in eval must not break anything
    probe.flush(0)
    names = [name for _, name, _ in probe.layers]
    assert names == [
        "0.self_attn.in_proj",
        "0.self_attn.out_proj",
        "0.linear1",
        "0.linear2",
        "1",
    ]
    assert rec.value("layer", "0.self_attn.in_proj") == [float(3 * 8 * 8 + 3 * 8)]
    assert [r[2] for r in rec.of("grad")] == names


def test_forward_only_and_eval_only_work() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    rec = Recorder()
    probe = Probe(model, rec)
    model.eval()
    with torch.no_grad():
        model(torch.randn(2, 3))
    probe.flush(0)
    assert [r[0] for r in rec.records] == ["layer", "layer", "weight"]
    model.train()
    with torch.no_grad():  # train mode without autograd: no batch, nothing sampled
        model(torch.randn(2, 3))
    probe.flush(1)
    assert [r[0] for r in rec.records[3:]] == ["weight"]
    model(torch.randn(2, 3))  # a training forward pass with autograd on (no backward)
    probe.flush(2)
    assert [r[0] for r in rec.records[4:]] == ["weight", "activation"]


def test_close_removes_every_hook() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.GELU(), nn.Linear(3, 1))
    rec = Recorder()
    probe = Probe(model, rec, check_every=1)
    probe.close()
    probe.close()
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    for p in model.parameters():
        assert not getattr(p, "_post_accumulate_grad_hooks", None)
    model(torch.randn(2, 3)).sum().backward()
    assert rec.records == []


@pytest.mark.parametrize(
    ("arg", "value"),
    [("check_every", 0), ("sample_size", 0), ("stats_every", 0), ("check_seconds", -1.0)],
)
def test_arguments_are_validated(arg: str, value: float) -> None:
    with pytest.raises(ValueError, match=arg):
        Probe(nn.Linear(1, 1), Recorder(), **{arg: value})  # type: ignore[arg-type]


def _tiny_epoch(model: nn.Module, batches: int) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(batches):
        opt.zero_grad()
        model(torch.randn(8, 4)).sum().backward()
        opt.step()


def _tiny_model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))


def test_long_epochs_sample_a_bounded_number_of_batches():
    model = _tiny_model()
    probe = Probe(model, lambda *a: None, stats_every=10, max_samples=8, overhead_budget=None)
    _tiny_epoch(model, 100)
    probe.flush(0)
    assert probe.sampling_stride == 13  # ceil(100 / 8): at most 8 sampled batches next epoch
    _tiny_epoch(model, 20)
    probe.flush(1)
    assert probe.sampling_stride == 10  # never below stats_every
    probe.close()


def test_overhead_budget_keeps_one_sample_per_epoch_when_tight():
    model = _tiny_model()
    probe = Probe(model, lambda *a: None, stats_every=10, overhead_budget=1e-9)
    _tiny_epoch(model, 100)
    probe.flush(0)
    assert probe.sampling_stride == 100  # one sampled batch (the first) per 100-batch epoch
    probe.close()


def test_overhead_budget_also_holds_within_the_first_epoch():
    """Before any stride adaptation, a batch due for sampling is skipped while the probe is
    over budget: with a budget of ~0, only the epoch's first batch is sampled."""
    model = _tiny_model()
    probe = Probe(model, lambda *a: None, stats_every=10, overhead_budget=1e-9)
    _tiny_epoch(model, 100)
    assert probe.sampled_batches == 1
    probe.flush(0)
    unbudgeted = Probe(model, lambda *a: None, stats_every=10, overhead_budget=None)
    _tiny_epoch(model, 100)
    assert unbudgeted.sampled_batches == 10
    unbudgeted.close()
    probe.close()


def test_nonfinite_gradient_on_a_sampled_batch_is_reported_from_its_statistics():
    """On the CPU a sampled batch has no separate check: the statistics' exact NaN/Inf
    counts report it, at that batch."""
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    rec = Recorder()
    probe = Probe(model, rec, check_every=1000, overhead_budget=None)

    def poison(p: Tensor) -> None:
        p.grad[0, 0] = float("nan")
        p.grad[1, 1] = float("inf")
        p.grad[2, 2] = float("inf")

    model[0].weight.register_post_accumulate_grad_hook(poison)
    model(torch.randn(4, 3)).sum().backward()  # batch 0: sampled
    assert [(r[1], r[3]) for r in rec.of("nonfinite")] == [(0, [1.0, 2.0, 0.0])]
    probe.close()
