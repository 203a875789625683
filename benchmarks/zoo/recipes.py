"""The zoo's recipes: what people train, across ten families, about half of them badly.

Each recipe is one training, recorded once to its end with the probe on and no verdict acting
(``benchmarks/zoo_record.py``). ``intent`` says what the recipe was written to show; it is a
note for people, never a label: ``zoo_judge.py`` labels each training by how it ended.

The families are the unit of holding out: ``TUNING`` families may teach a rule something, the
others (``held_out``) are judged untouched and their figure is the one that counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recipe:
    name: str
    family: str
    dataset: str  # digits | fashion | diabetes (raw targets)
    arch: str  # mlp | resmlp | cnn | gru | lstm | transformer | finetune
    optimizer: str  # sgd | momentum | nesterov | adam | adamw | rmsprop | adagrad | adadelta
    lr: float
    epochs: int = 10
    batch: int = 64
    depth: int = 3
    width: int = 64
    activation: str = "relu"
    norm: str = "none"  # none | batch | layer | prenorm (transformer)
    dropout: float = 0.0
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant | cosine | step (a warmup may precede any)
    warmup: int = 0  # epochs of linear warmup from lr * warmup_start
    warmup_start: float = 0.01  # 0: from 0, as Hugging Face's linear schedule
    gamma: float = 0.1  # step schedule: x gamma every step_every epochs
    step_every: int = 3
    label_smoothing: float = 0.0
    bf16: bool = False  # torch.autocast on the CPU
    init_scale: float = 1.0  # x PyTorch's default initialisation of Linear/Conv weights
    bias_init: float = 0.0  # every Linear/Conv bias set to this (0: PyTorch's default)
    intent: str = ""
    tags: tuple[str, ...] = field(default=())


def _r(
    name: str, family: str, dataset: str, arch: str, opt: str, lr: float, **kw: object
) -> Recipe:
    return Recipe(name, family, dataset, arch, opt, lr, **kw)  # type: ignore[arg-type]


# fmt: off
_ALL: list[Recipe] = [
    # ---- mlp: plain MLPs of depth 2-4
    _r("mlp-relu3-adam", "mlp", "digits", "mlp", "adam", 0.001, epochs=20, intent="good"),
    _r("mlp-tanh2-mom-cos", "mlp", "digits", "mlp", "momentum", 0.05, epochs=20, batch=32,
       depth=2, activation="tanh", schedule="cosine", intent="good"),
    _r("mlp-relu4-adamw-warm", "mlp", "fashion", "mlp", "adamw", 0.003, epochs=15, depth=4,
       width=128, weight_decay=0.01, warmup=3, intent="good: warmup"),
    _r("mlp-elu2-rms-ls", "mlp", "fashion", "mlp", "rmsprop", 0.001, batch=128, depth=2,
       width=128, activation="elu", label_smoothing=0.1, intent="good"),
    _r("mlp-relu3-sgd-slow", "mlp", "digits", "mlp", "sgd", 0.0001, epochs=20, batch=256,
       intent="bad: far too slow"),
    _r("mlp-relu3-adam-huge", "mlp", "digits", "mlp", "adam", 1.0, epochs=20,
       intent="bad: lr far too high"),
    _r("mlp-relu2-adadelta-slow", "mlp", "fashion", "mlp", "adadelta", 0.01, depth=2,
       intent="bad: adadelta at 1/100 of its default lr"),
    _r("mlp-relu3-sgd-nan", "mlp", "digits", "mlp", "sgd", 5.0, epochs=20, intent="bad: diverges"),
    # ---- mlp_deep: depth 8-24, no normalisation
    _r("deep-relu8-adam-5e-3", "mlp_deep", "digits", "mlp", "adam", 0.0054, depth=8,
       intent="good: the Optuna study's best, stopped by VGM at epoch 1"),
    _r("deep-relu8-adam-1e-3", "mlp_deep", "digits", "mlp", "adam", 0.001, epochs=15, batch=32,
       depth=8, intent="good"),
    _r("deep-tanh12-adam", "mlp_deep", "digits", "mlp", "adam", 0.001, epochs=15, depth=12,
       activation="tanh", intent="good"),
    _r("deep-relu16-rms-cos", "mlp_deep", "fashion", "mlp", "rmsprop", 0.0003, depth=16,
       width=128, schedule="cosine", intent="good"),
    _r("deep-relu20-adam-bs16", "mlp_deep", "digits", "mlp", "adam", 0.0005, batch=16, depth=20,
       intent="good: deep, small batches"),
    _r("deep-sigmoid12-sgd", "mlp_deep", "digits", "mlp", "sgd", 0.1, epochs=15, depth=12,
       activation="sigmoid", intent="bad: vanishing gradients"),
    _r("deep-relu24-sgd", "mlp_deep", "digits", "mlp", "sgd", 0.01, epochs=15, depth=24,
       intent="bad: 24 layers, plain SGD"),
    _r("deep-sigmoid8-adagrad", "mlp_deep", "fashion", "mlp", "adagrad", 0.001, depth=8,
       activation="sigmoid", intent="bad: too slow"),
    _r("deep-relu8-adam-0.1", "mlp_deep", "digits", "mlp", "adam", 0.1, epochs=15, depth=8,
       intent="bad: lr too high, dies"),
    _r("deep-relu10-adam-latewarm", "mlp_deep", "digits", "mlp", "adam", 0.05, epochs=20,
       depth=10, warmup=8, intent="bad late: warmup into a too-high lr"),
    # ---- mlp_norm: depth 8-24 with BatchNorm / LayerNorm
    _r("norm-relu12-ln-adam", "mlp_norm", "digits", "mlp", "adam", 0.001, epochs=15, depth=12,
       norm="layer", intent="good"),
    _r("norm-relu16-bn-mom-cos", "mlp_norm", "fashion", "mlp", "momentum", 0.1, depth=16,
       width=128, norm="batch", schedule="cosine", intent="good"),
    _r("norm-gelu8-ln-adamw-bf16", "mlp_norm", "fashion", "mlp", "adamw", 0.003, depth=8,
       width=128, activation="gelu", norm="layer", weight_decay=0.05, schedule="cosine", warmup=2,
       bf16=True, intent="good: bf16, warmup + cosine"),
    _r("norm-relu24-bn-adam-drop", "mlp_norm", "digits", "mlp", "adam", 0.001, epochs=20,
       depth=24, norm="batch", dropout=0.2, intent="good: dropout"),
    _r("norm-relu12-ln-sgd-slow", "mlp_norm", "digits", "mlp", "sgd", 1e-05, epochs=15, depth=12,
       norm="layer", intent="bad: far too slow"),
    _r("norm-relu8-bn-adam-huge", "mlp_norm", "fashion", "mlp", "adam", 3.0, depth=8,
       norm="batch", intent="bad: lr far too high"),
    _r("norm-tanh16-ln-adagrad-slow", "mlp_norm", "digits", "mlp", "adagrad", 1e-05, epochs=15,
       depth=16, activation="tanh", norm="layer", intent="bad: far too slow"),
    _r("norm-relu8-bn-sgd-stall", "mlp_norm", "fashion", "mlp", "sgd", 0.002, epochs=12, depth=8,
       norm="batch", schedule="step", gamma=0.001, step_every=2,
       intent="bad late: lr cut to nothing at epoch 3, stalls far from the best"),
    # ---- resmlp: residual MLPs
    _r("res8-ln-adam", "resmlp", "digits", "resmlp", "adam", 0.001, epochs=15, depth=8,
       norm="layer", intent="good"),
    _r("res16-mom-warm", "resmlp", "digits", "resmlp", "momentum", 0.01, epochs=15, depth=16,
       warmup=2, intent="good: warmup"),
    _r("res6-bn-adamw-ls", "resmlp", "fashion", "resmlp", "adamw", 0.002, depth=6, width=128,
       norm="batch", dropout=0.1, weight_decay=0.01, label_smoothing=0.1, intent="good"),
    _r("res4-rms-bf16", "resmlp", "fashion", "resmlp", "rmsprop", 0.001, depth=4, width=128,
       bf16=True, intent="good: bf16"),
    _r("res8-sgd-nan", "resmlp", "digits", "resmlp", "sgd", 10.0, epochs=15, depth=8,
       intent="bad: diverges"),
    _r("res8-adam-slow", "resmlp", "digits", "resmlp", "adam", 1e-06, epochs=15, depth=8,
       intent="bad: far too slow"),
    _r("res8-adam-latewarm", "resmlp", "digits", "resmlp", "adam", 0.3, epochs=20, depth=8,
       warmup=6, intent="bad late: warmup into a too-high lr"),
    _r("res6-relu-deadbias", "resmlp", "fashion", "resmlp", "adam", 0.001, depth=6,
       bias_init=-3.0, intent="bad: dead ReLUs"),
    # ---- cnn_bn: CNNs with BatchNorm
    _r("cnn-bn-adam", "cnn_bn", "digits", "cnn", "adam", 0.001, epochs=15, depth=4, width=16,
       norm="batch", intent="good"),
    _r("cnn-bn-mom-step", "cnn_bn", "digits", "cnn", "momentum", 0.05, epochs=15, depth=4,
       width=16, norm="batch", schedule="step", gamma=0.3, step_every=5, intent="good"),
    _r("cnn-bn-adamw-cos-fashion", "cnn_bn", "fashion", "cnn", "adamw", 0.002, epochs=8, depth=2,
       width=16, norm="batch", weight_decay=0.01, schedule="cosine", intent="good"),
    _r("cnn-bn-nesterov-bs16", "cnn_bn", "digits", "cnn", "nesterov", 0.02, batch=16, depth=4,
       width=16, norm="batch", intent="good: small batches"),
    _r("cnn-bn-rms-bf16-fashion", "cnn_bn", "fashion", "cnn", "rmsprop", 0.0005, epochs=8,
       depth=2, width=16, norm="batch", bf16=True, intent="good: bf16"),
    _r("cnn-bn-sgd-slow", "cnn_bn", "digits", "cnn", "sgd", 0.0001, epochs=15, batch=256, depth=4,
       width=16, norm="batch", intent="bad: far too slow"),
    _r("cnn-bn-sigmoid-sgd", "cnn_bn", "digits", "cnn", "sgd", 0.001, epochs=15, batch=128,
       depth=4, width=16, activation="sigmoid", norm="batch", intent="bad: too slow"),
    _r("cnn-bn-adadelta-slow", "cnn_bn", "fashion", "cnn", "adadelta", 0.001, epochs=8, batch=128,
       depth=2, width=16, norm="batch", intent="bad: far too slow"),
    _r("cnn-bn-sgd-nan", "cnn_bn", "digits", "cnn", "sgd", 20.0, epochs=15, depth=4, width=16,
       norm="batch", intent="bad: diverges"),
    _r("cnn-bn-adam-5ep", "cnn_bn", "fashion", "cnn", "adam", 0.002, epochs=5, batch=32, depth=2,
       width=16, norm="batch", intent="good: 5 epochs"),
    _r("cnn-bn-rms-huge-5ep", "cnn_bn", "digits", "cnn", "rmsprop", 0.5, epochs=5, depth=4,
       width=16, norm="batch", intent="bad: lr far too high, 5 epochs"),
    # ---- gru: rows of an image as a sequence
    _r("gru-adam", "gru", "digits", "gru", "adam", 0.003, epochs=20, depth=1, intent="good"),
    _r("gru2-rms", "gru", "digits", "gru", "rmsprop", 0.001, epochs=20, depth=2, intent="good"),
    _r("gru-adamw-cos-fashion", "gru", "fashion", "gru", "adamw", 0.003, epochs=8, batch=128,
       depth=1, schedule="cosine", intent="good"),
    _r("gru-nesterov", "gru", "digits", "gru", "nesterov", 0.05, epochs=20, batch=32, depth=1,
       intent="good"),
    _r("gru-sgd-slow", "gru", "digits", "gru", "sgd", 0.001, epochs=20, depth=1,
       intent="bad: far too slow"),
    _r("gru-adam-huge", "gru", "digits", "gru", "adam", 0.5, epochs=20, depth=1,
       intent="bad: lr far too high"),
    _r("gru-adagrad-slow", "gru", "fashion", "gru", "adagrad", 0.0001, epochs=8, batch=128,
       depth=1, intent="bad: far too slow"),
    _r("gru-adam-latewarm", "gru", "digits", "gru", "adam", 0.2, epochs=20, depth=2, warmup=6,
       intent="bad late: warmup into a too-high lr"),
    # ---- lstm
    _r("lstm-adamw-warm0", "lstm", "digits", "lstm", "adamw", 0.003, epochs=20, depth=1,
       schedule="cosine", warmup=3, warmup_start=0.0, intent="good: warmup from 0"),
    _r("lstm-adam", "lstm", "digits", "lstm", "adam", 0.002, epochs=20, depth=1, intent="good"),
    _r("lstm-adam-fashion", "lstm", "fashion", "lstm", "adam", 0.001, epochs=8, batch=128,
       depth=1, intent="good"),
    _r("lstm2-nesterov-cos", "lstm", "digits", "lstm", "nesterov", 0.2, epochs=20, depth=2,
       schedule="cosine", intent="good"),
    _r("lstm-rms-ls-bs512", "lstm", "fashion", "lstm", "rmsprop", 0.002, batch=512, depth=1,
       label_smoothing=0.1, intent="good: big batches"),
    _r("lstm-sgd-slow", "lstm", "digits", "lstm", "sgd", 0.001, epochs=20, depth=1,
       intent="bad: far too slow"),
    _r("lstm-adam-huge", "lstm", "digits", "lstm", "adam", 1.0, epochs=20, depth=1,
       intent="bad: lr far too high"),
    _r("lstm-adadelta-slow", "lstm", "fashion", "lstm", "adadelta", 0.01, epochs=8, batch=128,
       depth=1, intent="bad: far too slow"),
    _r("lstm-adam-stall", "lstm", "digits", "lstm", "adam", 0.0003, epochs=20, depth=1,
       schedule="step", gamma=0.0001, intent="bad late: lr cut to nothing at epoch 4"),
    # ---- transformer: a small encoder over image rows
    _r("tf2-adamw-warm-cos", "transformer", "digits", "transformer", "adamw", 0.001, epochs=20,
       depth=2, weight_decay=0.01, schedule="cosine", warmup=2, intent="good"),
    _r("tf1-adam-drop", "transformer", "digits", "transformer", "adam", 0.0005, epochs=20,
       depth=1, dropout=0.1, intent="good"),
    _r("tf4-prenorm-adamw-bf16", "transformer", "digits", "transformer", "adamw", 0.0003,
       epochs=8, batch=128, depth=4, norm="prenorm", bf16=True, intent="good: bf16, pre-LN"),
    _r("tf2-mom-cos", "transformer", "digits", "transformer", "momentum", 0.03, epochs=20,
       depth=2, schedule="cosine", intent="good"),
    _r("tf2-adam-huge", "transformer", "digits", "transformer", "adam", 0.1, epochs=20, depth=2,
       intent="bad: lr far too high"),
    _r("tf2-sgd-slow", "transformer", "digits", "transformer", "sgd", 0.0001, epochs=20, depth=2,
       intent="bad: far too slow"),
    _r("tf2-adagrad-slow", "transformer", "digits", "transformer", "adagrad", 1e-05, epochs=8,
       batch=128, depth=2, intent="bad: far too slow"),
    _r("tf2-adam-latewarm", "transformer", "digits", "transformer", "adam", 0.05, epochs=20,
       depth=2, warmup=6, intent="bad late: warmup into a too-high lr"),
    # warmups from 0 (added after TWU's warmup change: judged untouched, never tuned on)
    _r("tf2-adamw-warm0", "transformer", "digits", "transformer", "adamw", 0.001, epochs=20,
       depth=2, weight_decay=0.01, schedule="cosine", warmup=4, warmup_start=0.0,
       intent="good: warmup from 0 over 4 epochs"),
    _r("tf1-adam-warm0-bs8", "transformer", "digits", "transformer", "adam", 0.0003, batch=8,
       depth=1, warmup=2, warmup_start=0.0, intent="good: warmup from 0, batch 8"),
    # ---- finetune: a frozen pretrained CNN backbone, only the head trains
    _r("ft-linear-adam", "finetune", "fashion", "finetune", "adam", 0.001, epochs=8, depth=1,
       intent="good"),
    _r("ft-mlp-mom", "finetune", "fashion", "finetune", "momentum", 0.05, epochs=8, depth=2,
       width=128, intent="good"),
    _r("ft-mlp-adamw-warm-cos", "finetune", "fashion", "finetune", "adamw", 0.002, epochs=8,
       depth=2, width=128, dropout=0.2, schedule="cosine", warmup=1, intent="good"),
    _r("ft-linear-rms-bs512-bf16", "finetune", "fashion", "finetune", "rmsprop", 0.001, batch=512,
       depth=1, bf16=True, intent="good: bf16, big batches"),
    _r("ft-linear-sgd-slow", "finetune", "fashion", "finetune", "sgd", 1e-05, epochs=8, depth=1,
       intent="bad: far too slow"),
    _r("ft-mlp-adam-huge", "finetune", "fashion", "finetune", "adam", 10.0, epochs=8, depth=2,
       width=128, intent="bad: lr far too high"),
    _r("ft-linear-adagrad-slow", "finetune", "fashion", "finetune", "adagrad", 1e-06, epochs=8,
       depth=1, intent="bad: far too slow"),
    _r("ft-mlp-adadelta-slow", "finetune", "fashion", "finetune", "adadelta", 0.001, epochs=8,
       depth=2, width=128, intent="bad: far too slow"),
    # ---- regression: raw targets (25..346), MSE
    _r("reg-adam", "regression", "diabetes", "mlp", "adam", 0.03, epochs=50, batch=32,
       intent="good"),
    _r("reg-adam-cos", "regression", "diabetes", "mlp", "adam", 0.01, epochs=50, batch=16,
       depth=2, schedule="cosine", intent="good"),
    _r("reg-rms", "regression", "diabetes", "mlp", "rmsprop", 0.01, epochs=40, batch=32,
       intent="good"),
    _r("reg-adamw-warm", "regression", "diabetes", "mlp", "adamw", 0.03, epochs=40, batch=8,
       depth=4, weight_decay=0.001, warmup=5, intent="good: warmup, batch 8"),
    _r("reg-sgd-nan", "regression", "diabetes", "mlp", "sgd", 0.01, epochs=40, batch=32,
       intent="bad: diverges on raw targets"),
    _r("reg-adam-slow", "regression", "diabetes", "mlp", "adam", 1e-05, epochs=40, batch=32,
       intent="bad: far too slow"),
    _r("reg-adagrad-slow", "regression", "diabetes", "mlp", "adagrad", 0.0001, epochs=40,
       batch=32, depth=2, intent="bad: far too slow"),
    _r("reg-mom-tanh-sat", "regression", "diabetes", "mlp", "momentum", 1e-05, epochs=30,
       activation="tanh", intent="bad: far too slow"),
]
# fmt: on

RECIPES: dict[str, Recipe] = {r.name: r for r in _ALL}
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(r.family for r in _ALL))
# Half of the families may teach a rule something; the other half is judged untouched.
TUNING: tuple[str, ...] = ("mlp", "mlp_deep", "cnn_bn", "gru", "regression")
HELD_OUT: tuple[str, ...] = tuple(f for f in FAMILIES if f not in TUNING)

assert len(RECIPES) == len(_ALL), "recipe names must be unique"
