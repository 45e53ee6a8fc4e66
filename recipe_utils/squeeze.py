"""Stage 6, squeeze out the juice: ensembles, knowledge distillation, test-time augmentation.

Ensembling averages probabilities (not logits) of independently trained models; an
`Ensemble` module returns the log of that average, so `predict`, `evaluate` and a
distillation teacher treat it like any other model. Distillation trains a student on the
teacher's softened probabilities (Hinton et al. 2015) through `fit`: a `TeacherLoader`
packs the teacher's logits next to each batch's labels and `DistillationLoss` unpacks them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .amp import amp_dtype
from .engine import device_of, eval_mode, predict_batches


class Ensemble(nn.Module):
    """Average the softmax probabilities of `models`; forward returns their log (N, C).

    The log of the mean probability is a valid logit vector: argmax, softmax and
    cross-entropy of it are those of the averaged probabilities.
    """

    def __init__(self, models: Sequence[nn.Module]):
        super().__init__()
        if not models:
            raise ValueError("An Ensemble needs at least one model.")
        self.members = nn.ModuleList(models)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        log_probs = torch.stack([F.log_softmax(m(inputs).float(), dim=1) for m in self.members])
        return torch.logsumexp(log_probs, dim=0) - np.log(len(self.members))


def ensemble_curve(logits, targets) -> np.ndarray:
    """Accuracy of the ensemble of the first k models, for k = 1..K: float (K,).

    logits: float (K, N, C) per-model logits on the same examples; targets: int (N,).
    """
    logits = np.asarray(logits)
    targets = np.asarray(targets)
    if logits.ndim != 3 or logits.shape[1] != len(targets):
        raise ValueError(f"logits (K, N, C) must match targets (N,): got {logits.shape} and "
                         f"{targets.shape}.")
    probs = torch.softmax(torch.as_tensor(logits, dtype=torch.float32), dim=2).numpy()
    running = np.cumsum(probs, axis=0)  # (K, N, C): sum of the first k members
    return (running.argmax(2) == targets[None]).mean(1)


def agreement(logits_a, logits_b) -> float:
    """Fraction of examples on which two models predict the same class; logits (N, C)."""
    a, b = np.asarray(logits_a), np.asarray(logits_b)
    if a.shape != b.shape:
        raise ValueError(f"logits must have the same shape, got {a.shape} and {b.shape}.")
    return float((a.argmax(1) == b.argmax(1)).mean())


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      targets: torch.Tensor, *, temperature: float = 4.0,
                      alpha: float = 0.9) -> torch.Tensor:
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, targets).

    student_logits, teacher_logits: float (N, C); targets: int64 (N,). The T^2 keeps the
    soft term's gradient on the same scale as the hard term's when T changes.
    """
    if temperature <= 0 or not 0 <= alpha <= 1:
        raise ValueError(f"need temperature > 0 and 0 <= alpha <= 1, got {temperature}, {alpha}.")
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=1),
                    F.log_softmax(teacher_logits / temperature, dim=1),
                    log_target=True, reduction="batchmean")
    hard = F.cross_entropy(student_logits, targets)
    return alpha * temperature**2 * soft + (1 - alpha) * hard


class DistillationLoss(nn.Module):
    """`distillation_loss` as a `fit` loss_fn: targets are a TeacherLoader's packed (N, 1 + C)."""

    def __init__(self, *, temperature: float = 4.0, alpha: float = 0.9):
        super().__init__()
        self.temperature, self.alpha = temperature, alpha

    def forward(self, logits: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
        if packed.ndim != 2 or packed.shape[1] != logits.shape[1] + 1:
            raise ValueError("DistillationLoss needs targets packed by a TeacherLoader "
                             f"(N, 1 + C); got {tuple(packed.shape)} for logits "
                             f"{tuple(logits.shape)}. Wrap the train loader in TeacherLoader.")
        targets, teacher = packed[:, 0].long(), packed[:, 1:]
        return distillation_loss(logits, teacher, targets, temperature=self.temperature,
                                 alpha=self.alpha)


class TeacherLoader:
    """Wrap a DeviceLoader: yield (inputs, float (B, 1 + C) = [label, teacher logits]).

    The teacher sees exactly the augmented batch the student sees (eval mode, no grad);
    after each batch its modules are back in the modes they were in. Evaluation inside
    `fit` uses `without_augmentation()`, which returns the plain loader.
    """

    def __init__(self, loader, teacher: nn.Module):
        self.loader, self.teacher = loader, teacher

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def without_augmentation(self):
        return self.loader.without_augmentation()

    def __iter__(self):
        for inputs, targets in self.loader:
            with eval_mode(self.teacher), torch.no_grad():  # its own modes come back after
                teacher_logits = self.teacher(inputs).float()
            yield inputs, torch.cat([targets[:, None].to(teacher_logits.dtype), teacher_logits], 1)


def tta_logits(model: nn.Module, inputs: torch.Tensor, *, level: int = 2) -> torch.Tensor:
    """Logits (N, C) averaged over test-time augmentations of inputs (N, C, H, W).

    level 0: the inputs as they are; 1: + the mirror image; 2: + 1-pixel shifts up-left and
    down-right (reflect-padded) of both, weighted half and half with level 1.
    """
    if level not in (0, 1, 2):
        raise ValueError(f"TTA level must be 0, 1 or 2, got {level}.")

    def mirrored(x):
        return 0.5 * (model(x).float() + model(x.flip(-1)).float())

    if level == 0:
        return model(inputs).float()
    logits = mirrored(inputs)
    if level == 2:
        h, w = inputs.shape[-2:]
        padded = F.pad(inputs, (1, 1, 1, 1), mode="reflect")
        shifted = [mirrored(padded[..., :h, :w]), mirrored(padded[..., 2:, 2:])]
        logits = 0.5 * logits + 0.25 * (shifted[0] + shifted[1])
    return logits


def predict_tta(model: nn.Module, loader, *, level: int = 2, device=None,
                amp: bool = True) -> torch.Tensor:
    """Logits float32 (N, C) on the CPU with test-time augmentation, in the loader's order."""
    dtype = amp_dtype(device_of(model, device)) if amp else None
    batches = predict_batches(model, loader.without_augmentation(), device=device, dtype=dtype,
                              forward=lambda inputs: tta_logits(model, inputs, level=level))
    return torch.cat([logits.cpu() for logits, _ in batches])
