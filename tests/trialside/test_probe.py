from __future__ import annotations

import math
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


class Still(torch.optim.Optimizer):
    """An optimizer whose steps change nothing (a NaN gradient does not spread to the
    weights), but which runs the optimizer hooks as every torch optimizer does."""

    def __init__(self, params: object) -> None:
        super().__init__(params, {})  # type: ignore[arg-type]

    def step(self, closure: object = None) -> None:  # type: ignore[override]
        return None


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


def test_layers_follow_forward_order() -> None:
    rec = Recorder()
    model = Shuffled()
    probe = Probe(model, rec, stats_every=1, overhead_budget=None)
    assert probe.layers == []
    train(model, [torch.randn(4, 1, 5) for _ in range(3)])
    want = [(0, "stem", "Conv1d"), (1, "body", "Linear"), (2, "act", "Tanh"), (3, "head", "Linear")]
    assert probe.layers == want
    probe.flush(0)
    assert [r[1] for r in rec.of("weight")] == [0, 1, 3]
    assert [r[1] for r in rec.of("grad")] == [0, 1, 3]
    assert all(len(r[3]) == len(STAT_NAMES) for r in rec.of("weight") + rec.of("grad"))
    train(model, [torch.randn(4, 1, 5) for _ in range(2)])
    assert probe.layers == want  # not re-added by later batches


def test_weight_stats_are_those_of_the_weight_at_flush() -> None:
    rec = Recorder()
    model = nn.Sequential(nn.Linear(5, 3))
    probe = Probe(model, rec)
    model(torch.randn(2, 5))
    probe.flush(0)
    want = tensor_stats(model[0].weight).tolist() + [math.nan]  # no step: no update ratio
    assert rec.value("weight", "0") == pytest.approx(want, nan_ok=True)


def test_grad_stats_are_averaged_over_sampled_batches() -> None:
    rec = Recorder()
    model = nn.Sequential(nn.Linear(3, 4))
    probe = Probe(model, rec, stats_every=2, overhead_budget=None)
    opt = Still(model.parameters())
    seen = []
    for i in range(5):
        opt.zero_grad()
        model(torch.randn(6, 3) * (i + 1)).pow(2).mean().backward()
        seen.append(tensor_stats(model[0].weight.grad))
    probe.flush(0)
    sampled = torch.stack([seen[1], seen[3]])  # batches 1 and 3: not batch 0
    want = sampled.mean(0)
    want[STAT_NAMES.index("max")] = sampled[:, STAT_NAMES.index("max")].max()
    want[STAT_NAMES.index("min")] = sampled[:, STAT_NAMES.index("min")].min()
    # abs_max: over every batch (the every-batch check), not only the sampled ones
    want[STAT_NAMES.index("abs_max")] = torch.stack(seen)[:, STAT_NAMES.index("abs_max")].max()
    want = want.tolist() + [math.nan]  # gradients have no update ratio
    assert rec.value("grad", "0") == pytest.approx(want, rel=1e-6, nan_ok=True)


def test_epoch_extremes_combine_by_max_and_min_and_counts_by_sum() -> None:
    """AGV reads the epoch's gradient abs_max: one big sampled batch must not be diluted
    by the others (nor min raised, nor the NaN/Inf counts divided)."""
    rec = Recorder()
    model = nn.Sequential(nn.Linear(3, 4))
    probe = Probe(model, rec, stats_every=1, overhead_budget=None)
    opt = Still(model.parameters())
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
    return 1 if batches > 1 else 0


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
    train(model, [torch.randn(3, 1) for _ in range(2)])
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
    train(model, [torch.randn(20, 1) for _ in range(2)])  # 20,000 outputs each
    probe.flush(0)
    (ratio,) = rec.value("activation", "1")
    assert ratio != 0.75  # a sample of 256: not the exact count
    assert ratio == pytest.approx(0.75, abs=0.1)


def test_nonfinite_gradient_is_reported_at_the_batch_it_appears_once_per_layer() -> None:
    """On the CPU every batch's gradients are checked (one fused reduction, as the optimizer
    steps), whatever ``check_every`` says: a NaN/Inf between two sampled batches is
    reported at once."""
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    rec = Recorder()
    probe = Probe(model, rec, check_every=4, check_seconds=60.0, overhead_budget=None,
                  check_budget=None)  # fmt: skip
    opt = Still(model.parameters())
    bad_from = 5

    def poison(p: Tensor) -> None:
        if batch >= bad_from and p.grad is not None:
            p.grad[0, 0] = float("nan")
            p.grad[0, 1] = float("inf")

    model[2].weight.register_post_accumulate_grad_hook(poison)
    for batch in range(12):
        model.zero_grad()
        model(torch.randn(4, 3)).sum().backward()
        opt.step()
        if batch < bad_from:
            assert rec.of("nonfinite") == []
        else:
            assert [(r[1], r[3]) for r in rec.of("nonfinite")] == [(2, [1.0, 1.0, 5.0])]
    probe.flush(0)
    grad = rec.value("grad", "2")
    assert grad[STAT_NAMES.index("nan_count")] > 0
    # next epoch: reported again
    model(torch.randn(4, 3)).sum().backward()
    probe.flush(1)
    assert [r[3][2] for r in rec.of("nonfinite")] == [5.0, 0.0]


def test_without_an_optimizer_the_check_runs_every_check_every_batches() -> None:
    """No torch optimizer steps the weights (a hand-written update): the check runs at the
    end of the backward of sampled batches and of every ``check_every``-th one."""
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    rec = Recorder()
    probe = Probe(model, rec, check_every=4, check_seconds=0.0, overhead_budget=None)

    def poison(p: Tensor) -> None:
        if batch >= 4 and p.grad is not None:
            p.grad[0, 0] = float("nan")

    model[2].weight.register_post_accumulate_grad_hook(poison)
    for batch in range(8):  # noqa: B007 (poison reads it)
        model.zero_grad()
        model(torch.randn(4, 3)).sum().backward()
    assert [(r[1], r[3]) for r in rec.of("nonfinite")] == [(2, [1.0, 0.0, 7.0])]
    probe.close()


def test_on_an_accelerator_the_check_is_read_every_check_every_batches() -> None:
    """The accelerator's path (taken here on the CPU): each batch's check stays on the
    device and is read on sampled batches and every ``check_every``-th; a NaN seen between
    two reads is reported at the next, even if the gradient has recovered since."""
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    rec = Recorder()
    probe = Probe(model, rec, check_every=4, check_seconds=0.0, overhead_budget=None)
    probe._check.device_path = True
    opt = Still(model.parameters())

    def poison(p: Tensor) -> None:
        if batch == 5 and p.grad is not None:
            p.grad[0, 0] = float("nan")

    model[2].weight.register_post_accumulate_grad_hook(poison)
    for batch in range(9):
        model.zero_grad()
        model(torch.randn(4, 3)).sum().backward()
        opt.step()
        if batch < 7:
            assert rec.of("nonfinite") == []
    assert [(r[1], r[3]) for r in rec.of("nonfinite")] == [(2, [1.0, 0.0, 7.0])]
    probe.flush(0)
    assert len(rec.of("nonfinite")) == 1
    want = model[2].weight.grad.abs().max().item()  # type: ignore[union-attr]
    assert rec.value("grad", "2")[STAT_NAMES.index("abs_max")] >= want


def test_every_batch_gradient_maximum_is_the_epochs_abs_max() -> None:
    """SGD at lr 1e6 on digits: the gradients reach ~1e15 within the first steps, then every
    ReLU dies and they vanish. The sampled batches see none of it; the every-batch check
    folds each layer's true maximum |g| into the epoch's abs_max, so AGV sees it."""
    from bttackler.tasks import digits

    train_split, _ = digits.load_split()
    x, y = train_split.x.flatten(1), train_split.y
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    rec = Recorder()
    probe = Probe(model, rec, check_budget=None)  # every batch: the exact maximum
    budgeted_rec = Recorder()
    budgeted = Probe(model, budgeted_rec)  # the default: always the first 4 batches
    opt = torch.optim.SGD(model.parameters(), lr=1e6)
    true_max = {0: 0.0, 2: 0.0}
    for i in range(0, len(x), 64):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[i : i + 64]), y[i : i + 64]).backward()
        for index, layer in true_max.items():
            grad = model[index].weight.grad
            assert grad is not None
            true_max[index] = max(layer, float(grad.abs().max()))
        opt.step()
    probe.flush(0)
    budgeted.flush(0)
    seen = max(row[3][STAT_NAMES.index("abs_max")] for row in budgeted_rec.of("grad"))
    assert seen > 1e4  # the budgeted check still shows AGV the explosion of the first steps
    assert max(true_max.values()) > 1e12
    assert rec.of("nonfinite") == []
    for index, want in true_max.items():
        got = rec.value("grad", str(index))[STAT_NAMES.index("abs_max")]
        assert got == pytest.approx(want, rel=1e-6)


def test_float16_gradients_with_large_finite_values_are_not_nonfinite() -> None:
    """A float16 gradient of 1,000 values of 60,000 is finite; its float16 sum is Inf. The
    check must not call it non-finite (AGV would kill a healthy trial)."""
    model = nn.Sequential(nn.Linear(1000, 1, bias=False)).half()
    rec = Recorder()
    probe = Probe(model, rec, check_every=1, check_seconds=0.0, overhead_budget=None)

    def big(p: Tensor) -> None:
        assert p.grad is not None
        p.grad.fill_(60000.0)

    model[0].weight.register_post_accumulate_grad_hook(big)
    for _ in range(4):
        model.zero_grad()
        model(torch.ones(2, 1000, dtype=torch.float16)).float().sum().backward()
    probe.flush(0)
    assert rec.of("nonfinite") == []
    grad = dict(zip(STAT_NAMES, rec.value("grad", "0")))
    assert grad["nan_count"] == 0 and grad["inf_count"] == 0
    assert grad["abs_max"] == 60000.0


def test_the_first_sampled_batch_is_batch_1() -> None:
    """Batch 0 has seen no update yet: the gradient statistics come from batch 1."""
    rec = Recorder()
    model = nn.Sequential(nn.Linear(3, 4))
    probe = Probe(model, rec, stats_every=10, overhead_budget=None)
    seen = []
    for i in range(3):
        model.zero_grad()
        model(torch.randn(6, 3) * (i + 1)).pow(2).mean().backward()
        seen.append(tensor_stats(model[0].weight.grad))
    probe.flush(0)
    assert probe.sampling_stride == 10
    mean = STAT_NAMES.index("mean")
    assert rec.value("grad", "0")[mean] == pytest.approx(seen[1][mean].item())


def test_a_single_batch_epoch_still_reports_its_gradients() -> None:
    """Full-batch training has no batch 1: the first epoch's gradients are measured at
    flush, the next epochs sample batch 0."""
    rec = Recorder()
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    probe = Probe(model, rec, overhead_budget=None)
    for epoch in range(2):
        model.zero_grad()
        model(torch.randn(6, 3)).pow(2).mean().backward()
        want = tensor_stats(model[0].weight.grad).tolist()
        probe.flush(epoch)
        assert rec.of("grad")[-1][3][:9] == pytest.approx(want[:9], rel=1e-6)
    assert [r[1] for r in rec.of("activation")] == [1]  # measured on the 2nd epoch's batch 0


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
    train(model, [torch.randint(0, 10, (2, 5)) for _ in range(2)])
    probe.flush(0)
    assert probe.layers == [(0, "emb", "Embedding"), (1, "rnn", "LSTM"), (2, "out", "Linear")]
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
    assert [r[2] for r in rec.of("grad")] == names


def test_forward_only_and_eval_only_work() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    rec = Recorder()
    probe = Probe(model, rec)
    model.eval()
    with torch.no_grad():
        model(torch.randn(2, 3))
    probe.flush(0)
    assert [r[0] for r in rec.records] == ["weight"]
    model.train()
    with torch.no_grad():  # train mode without autograd: no batch, nothing sampled
        model(torch.randn(2, 3))
    probe.flush(1)
    assert [r[0] for r in rec.records[1:]] == ["weight"]
    model(torch.randn(2, 3))  # training forward passes with autograd on (no backward)
    model(torch.randn(2, 3))
    probe.flush(2)
    assert [r[0] for r in rec.records[2:]] == ["weight", "activation"]


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


def test_nonfinite_gradient_is_reported_with_exact_counts():
    """The report counts every NaN and Inf of the layer's gradient, at that batch."""
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    rec = Recorder()
    probe = Probe(model, rec, check_every=1000, overhead_budget=None)

    def poison(p: Tensor) -> None:
        p.grad[0, 0] = float("nan")
        p.grad[1, 1] = float("inf")
        p.grad[2, 2] = float("inf")

    model[0].weight.register_post_accumulate_grad_hook(poison)
    opt = Still(model.parameters())
    model(torch.randn(4, 3)).sum().backward()  # batch 0
    opt.step()
    assert [(r[1], r[3]) for r in rec.of("nonfinite")] == [(0, [1.0, 2.0, 0.0])]
    model(torch.randn(4, 3)).sum().backward()  # batch 1: sampled, already reported
    assert len(rec.of("nonfinite")) == 1
    probe.close()


def _update_ratio(rec: Recorder, name: str) -> float:
    """The update ratio of layer ``name`` in the last flushed epoch."""
    last = [r for r in rec.of("weight") if r[2] == name][-1]
    return last[3][STAT_NAMES.index("update_ratio")]


def test_update_ratio_is_the_relative_size_of_the_sampled_batchs_step() -> None:
    """||W_after - W_before|| / ||W_before|| over the optimizer step of each sampled batch
    (batch 1, then 4: stride 3), averaged over the epoch; gradients have none."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))
    rec = Recorder()
    probe = Probe(model, rec, stats_every=3, overhead_budget=None)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    want: dict[int, list[float]] = {0: [], 2: []}
    for batch in range(6):
        before = {i: model[i].weight.detach().clone() for i in want}
        opt.zero_grad()
        model(torch.randn(8, 5)).pow(2).mean().backward()
        opt.step()
        if batch in (1, 4):
            for i, ratios in want.items():
                w = model[i].weight.detach()
                ratios.append(float((w - before[i]).norm() / before[i].norm()))
    probe.flush(0)
    for i, ratios in want.items():
        assert _update_ratio(rec, str(i)) == pytest.approx(sum(ratios) / 2, rel=1e-5)
        assert math.isnan(rec.value("grad", str(i))[STAT_NAMES.index("update_ratio")])
    assert 1e-3 < _update_ratio(rec, "0") < 1.0


def test_update_ratio_of_the_epochs_last_batch_is_measured_at_flush() -> None:
    """The sampled batch is the epoch's last: its step is done by the time of the report.
    With no step at all (an epoch of one batch sampled at flush), NaN."""
    model = nn.Sequential(nn.Linear(3, 3))
    rec = Recorder()
    probe = Probe(model, rec, stats_every=10, overhead_budget=None)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):  # batch 1, sampled, is the last
        opt.zero_grad()
        model(torch.randn(4, 3)).sum().backward()
        opt.step()
    probe.flush(0)
    assert _update_ratio(rec, "0") > 0
    opt.zero_grad()  # epoch 1: one batch, so no batch 1: sampled at flush, after its step
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    probe.flush(1)
    assert math.isnan(_update_ratio(rec, "0"))
    single, single_rec = nn.Sequential(nn.Linear(3, 3)), Recorder()
    single_probe = Probe(single, single_rec, overhead_budget=None)
    single_opt = torch.optim.SGD(single.parameters(), lr=0.1)
    single(torch.randn(4, 3)).sum().backward()
    single_opt.step()
    single_probe.flush(0)  # one batch: sampled at flush, after its step: not measurable
    assert math.isnan(_update_ratio(single_rec, "0"))


def test_update_ratio_covers_every_matrix_of_an_lstm() -> None:
    torch.manual_seed(0)
    model = nn.LSTM(3, 4, num_layers=2)
    rec = Recorder()
    probe = Probe(model, rec, overhead_budget=None)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    weights = [p for n, p in model.named_parameters() if n.startswith("weight")]
    for batch in range(3):
        before = torch.cat([w.detach().reshape(-1).clone() for w in weights])
        opt.zero_grad()
        model(torch.randn(5, 2, 3))[0].sum().backward()
        opt.step()
        if batch == 1:
            after = torch.cat([w.detach().reshape(-1) for w in weights])
            want = float((after - before).norm() / before.norm())
    probe.flush(0)
    assert _update_ratio(rec, "") == pytest.approx(want, rel=1e-5)


def test_a_model_without_weighted_layers_steps_without_checks() -> None:
    model = nn.Sequential(nn.ReLU())
    bias = nn.Parameter(torch.zeros(3))
    rec = Recorder()
    probe = Probe(model, rec)
    opt = torch.optim.SGD([bias], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(2, 3) + bias).sum().backward()
        opt.step()
    probe.flush(0)
    assert rec.of("nonfinite") == [] and rec.of("grad") == []


@pytest.mark.parametrize("in_place", [False, True])
def test_host_checks_run_together_and_report_the_batch_of_a_nan(in_place: bool) -> None:
    """On the CPU the every-batch checks of a few batches run in one kernel call, on each
    batch's own gradients (kept since): the maxima and a NaN's batch are those of a check
    at every step. An optimizer zeroing its gradients in place (the same tensors every
    batch) is checked at each step instead."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    rec = Recorder()
    probe = Probe(model, rec, check_budget=None, overhead_budget=None, stats_every=100)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    true_max = [-math.inf, -math.inf]
    for batch in range(10):
        opt.zero_grad(set_to_none=not in_place)
        model(torch.randn(8, 3) * (batch + 1)).pow(2).mean().backward()
        grads = [model[0].weight.grad, model[2].weight.grad]
        assert grads[0] is not None and grads[1] is not None
        if batch == 6:
            grads[1][0, 0] = float("nan")
        else:
            true_max = [max(m, float(g.abs().max())) for m, g in zip(true_max, grads)]
        opt.step()
        if batch == 6:
            with torch.no_grad():
                model[2].weight.nan_to_num_(0.0)  # the next batches are finite again
        if in_place and batch >= 6:  # checked at its step: reported at once
            assert [r[3] for r in rec.of("nonfinite")] == [[1.0, 0.0, 6.0]]
    probe.flush(0)
    assert [r[3] for r in rec.of("nonfinite")] == [[1.0, 0.0, 6.0]]
    assert probe._check.stash_size == (1 if in_place else 4)
    for index, want in zip((0, 2), true_max):
        got = rec.value("grad", str(index))[STAT_NAMES.index("abs_max")]
        assert got >= want
        if index == 0:  # no NaN in this layer: the exact maximum over all batches
            assert got == pytest.approx(want, rel=1e-6)
