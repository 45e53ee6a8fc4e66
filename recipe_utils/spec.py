"""One run spec: what one training run is, as one frozen object.

A `RunSpec` names everything that makes a run's numbers what they are apart from its
seed: the model (a key of `MODELS` and its options), the data (training subset, its
seed, augmentation, downsampling), the optimizer and schedule (`TrainConfig`), the
length and the batch size. The size table's rows hold one (`sizes.Run.spec`), a
`Study` compares them field by field, and two functions use them:

- `train_spec(spec, splits, seed=...)` trains it and returns (model, history);
- `measure(model, splits, ...)` reads its numbers on the val (and test) split.

Vary a spec with `dataclasses.replace`, e.g. `replace(spec, train_size=2_000)`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable

import torch
from torch import nn

from . import models
from .calibration import expected_calibration_error
from .data import Splits
from .loader import Augment
from .profile import seed_everything
from .train import History, TrainConfig, evaluate, fit, predict

EVAL_BATCH = 1000  # the val / test batch of a measured run (any size gives the same accuracy)
# BatchNorm re-estimation's batch: the running variance it sets is the mean of these
# batches' variances, so the size changes the numbers a little
RECALIBRATE_BATCH = 500

MODELS: dict[str, Callable[..., nn.Module]] = {
    "fast_net": lambda widths, **kw: models.fast_net(widths=tuple(widths), **kw),
    "tiny_cnn": lambda widths, **kw: models.tiny_cnn(width=widths[0], **kw),
    "resnet18": lambda widths, **kw: models.resnet18(width=widths[0], **kw),
    "linear": lambda widths, **kw: models.linear(**kw),
    "mlp": lambda widths, **kw: models.mlp(hidden=widths[0], **kw),
}


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run, all but its seed (vary with `dataclasses.replace`)."""

    model: str = "fast_net"  # a key of MODELS
    widths: tuple[int, ...] = (16, 32, 32)  # fast_net's three widths, or (width,) for the others
    options: tuple[tuple[str, object], ...] = ()  # the builder's other keywords, e.g. (("dropout2d", 0.2),)
    train_size: int | None = None  # a stratified subset of the train split; None: all of it
    subset_seed: int | None = None  # which subset; None: the run's seed draws it
    augment: Augment | None = None
    downsample: int = 1  # inputs average-pooled by this factor first (2: 32x32 -> 16x16)
    config: TrainConfig = TrainConfig()  # optimizer, schedule, loss, early stopping
    epochs: int = 1  # passes over the training subset, unless `steps` is set
    steps: int | None = None  # optimizer steps, in whole epochs (rounded): rows at equal steps
    batch_size: int = 128

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"Unknown model {self.model!r}; known: {', '.join(MODELS)}.")
        if self.epochs < 1 and self.steps is None:
            raise ValueError(f"epochs must be >= 1 (or set steps), got {self.epochs}.")

    def epochs_for(self, n_train: int) -> int:
        """Whole epochs this spec trains on a split of `n_train` images."""
        n = min(self.train_size or n_train, n_train)
        if self.steps is None:
            return self.epochs
        return max(1, round(self.steps / math.ceil(n / self.batch_size)))

    def at_equal_steps(self, n_train: int) -> RunSpec:
        """This spec with its length in steps: a row that changes the data size (or the
        batch size) then takes the same number of optimizer steps."""
        n = min(self.train_size or n_train, n_train)
        return dataclasses.replace(self, steps=self.epochs * math.ceil(n / self.batch_size))


def build_model(spec: RunSpec) -> nn.Module:
    """The untrained model `spec` names (at the global RNG's current state)."""
    model = MODELS[spec.model](spec.widths, **dict(spec.options))
    return models.downsampled(model, factor=spec.downsample) if spec.downsample > 1 else model


def train_spec(spec: RunSpec, splits: Splits, *, seed: int,
               build: Callable[[RunSpec, int], nn.Module] | None = None,
               validate: bool = False, val_size: int | None = None, loader=None,
               val_loader=None, wrap: Callable | None = None, device: str | torch.device | None = None,
               **fit_options) -> tuple[nn.Module, History]:
    """Train `spec` with `seed` (init, batch order, augmentation); return (model, history).

    The data: the stratified `spec.train_size` subset drawn with `spec.subset_seed` (or
    `seed`), or `loader` itself when given; `wrap(loader)` replaces it (e.g. a
    distillation `TeacherLoader`). `build(spec, seed)` replaces `build_model` (e.g. a
    planted bug around it). `validate` watches the whole val split (or a fixed stratified
    `val_size` subset; or `val_loader` itself) in `fit`; early stopping
    (`spec.config.patience`) needs it and turns it on. Other keywords go to `fit` (`eval_every`, `callback`, `monitor`,
    `loss_fn`, `checkpoint`); `eval_every` defaults to 1 under early stopping, else 0
    (the whole splits evaluated only after the last epoch).
    """
    device = splits.device if device is None else device
    splits = dataclasses.replace(splits, device=device)
    seed_everything(seed)
    # channels-last: about 10% faster training and 2x faster evaluation of these small
    # conv nets on a CPU (float sums in another order: equal up to rounding)
    model = (build or (lambda s, _: build_model(s)))(spec, seed)
    model = model.to(device, memory_format=torch.channels_last)
    if loader is None:
        train = splits.train.subset(spec.train_size,
                            seed=seed if spec.subset_seed is None else spec.subset_seed)
        loader = splits.loader(train, batch_size=spec.batch_size, shuffle=True,
                               augment=spec.augment, seed=seed)
    stopping = bool(spec.config.patience)
    val = val_loader
    if val is None and (validate or stopping):
        val = splits.loader(splits.val.subset(val_size, seed=0), batch_size=EVAL_BATCH)
    fit_options = {"progress": False, "eval_every": 1 if stopping else 0, **fit_options}
    history = fit(model, wrap(loader) if wrap else loader, val_loader=val,
                  epochs=spec.epochs_for(len(splits.train)),
                  config=spec.config, seed=seed, device=device, **fit_options)
    return model, history


def summarize(history: History) -> dict:
    """Final train/val accuracy and loss, and the best val accuracy of a run."""
    final = history.final
    row = {k: final[k] for k in ("train_loss", "train_acc", "val_loss", "val_acc") if k in final}
    if "val_acc" in final:
        row["best_val_acc"] = max(history.column("val_acc"))
    row["epochs"] = len(history.epochs)
    return row


def measure(model: nn.Module, splits: Splits, *, history: History | None = None,
            spec: RunSpec | None = None, seed: int = 0, test: bool = False) -> dict:
    """A trained model's numbers, on the whole val split from one pass of `predict`.

    Returns `summarize(history)`'s (the training split's, from `fit`) updated with
    val_acc, val_loss, mean confidence, mean logit norm (L2 over the classes) and
    calibration error (ECE) on val; with `test`, test_acc; for a model with Dropout2d,
    `recalibrated_val_acc` after `models.recalibrate_batchnorm` on the run's training
    subset (`spec` and `seed` name it).
    """
    val_loader = splits.loader("val", batch_size=EVAL_BATCH)
    val_targets = torch.as_tensor(splits.val.labels)
    logits = predict(model, val_loader)
    probs = logits.softmax(1).numpy()
    numbers = {**(summarize(history) if history is not None else {}),
               "val_acc": (logits.argmax(1) == val_targets).sum().item() / len(val_targets),
               "val_loss": float(nn.functional.cross_entropy(logits, val_targets)),
               "confidence": float(probs.max(1).mean()),
               "logit_norm": float(logits.norm(dim=1).mean()),
               "ece": expected_calibration_error(probs, splits.val.labels)}
    if test:
        numbers["test_acc"] = evaluate(model, splits.loader("test", batch_size=EVAL_BATCH)).accuracy
    if spec is not None and any(isinstance(m, nn.Dropout2d) for m in model.modules()):
        plain = splits.train.subset(
            spec.train_size, seed=seed if spec.subset_seed is None else spec.subset_seed)
        numbers["recalibrated_val_acc"] = evaluate(
            models.recalibrate_batchnorm(copy.deepcopy(model),
                                         splits.loader(plain, batch_size=RECALIBRATE_BATCH)),
            val_loader).accuracy
    return numbers
