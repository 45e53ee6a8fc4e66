"""Small, readable models for 32x32 RGB inputs.

Each takes `num_classes`, a width and `dropout` (keyword-only), builds on any device,
and ends in a global average pool and one nn.Linear head, so `replace_head`, FLOP
counting and smaller inputs (16x16) work the same for all of them.
"""

from __future__ import annotations

import torch
from torch import nn

from .engine import device_of, eval_mode, in_mode


def linear(*, num_classes: int = 10, in_shape: tuple[int, int, int] = (3, 32, 32)) -> nn.Module:
    """A linear classifier on raw pixels: (N, 3, 32, 32) -> logits (N, num_classes)."""
    c, h, w = in_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, num_classes))


def tiny_cnn(*, num_classes: int = 10, width: int = 16, dropout: float = 0.0) -> nn.Module:
    """Two conv-ReLU-pool blocks and a linear head: too simple to get wrong.

    (N, 3, 32, 32) -> conv (N, w, 32, 32) -> pool (N, w, 16, 16) -> conv (N, 2w, 16, 16)
    -> pool (N, 2w, 8, 8) -> global average (N, 2w) -> logits (N, num_classes).
    """
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
        nn.Linear(2 * width, num_classes),
    )


# BatchNorm running statistics averaged over ~2 steps (momentum 0.4, as in airbench) rather
# than PyTorch's ~10 (0.1): short runs change the weights faster than the default average
# follows, and eval mode then sees stale statistics (near-chance val accuracy after 30
# steps of a run whose training loss is falling fine).
BN_MOMENTUM = 0.4


def conv_bn(c_in: int, c_out: int, *, bn_momentum: float = BN_MOMENTUM, bn_eps: float = 1e-5,
            frozen_bn_scale: bool = False) -> nn.Sequential:
    """3x3 conv (no bias: BatchNorm has one) -> BatchNorm -> GELU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                         batchnorm(c_out, momentum=bn_momentum, eps=bn_eps, frozen_scale=frozen_bn_scale),
                         nn.GELU())


def batchnorm(width: int, *, momentum: float = BN_MOMENTUM, eps: float = 1e-5,
              frozen_scale: bool = False) -> nn.BatchNorm2d:
    """BatchNorm2d; with `frozen_scale` its scales stay at 1 and only the shifts train."""
    norm = nn.BatchNorm2d(width, eps=eps, momentum=momentum)
    norm.weight.requires_grad = not frozen_scale
    return norm


class Scale(nn.Module):
    """Multiplies its input by a fixed `factor` (no parameters)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:.4g}"


def fast_net(*, num_classes: int = 10, widths: tuple[int, int, int] = (64, 256, 256),
             dropout: float = 0.0, dropout2d: float = 0.0, stem: str = "conv",
             bn_momentum: float = BN_MOMENTUM, bn_eps: float = 1e-5, frozen_bn_scale: bool = False,
             dirac: bool = False, head_bias: bool = True, logit_scale: float = 1.0) -> nn.Sequential:
    """A fast CIFAR net in the style of airbench: a stem, then three conv-pool-BN blocks.

    stem="conv": (N, 3, 32, 32) -> conv-BN-GELU (N, w0/2, 32, 32) -> block (N, w0, 16, 16)
    -> (N, w1, 8, 8) -> (N, w2, 4, 4) -> global max (N, w2) -> logits (N, num_classes).
    stem="patch" (airbench94's): a 2x2 conv with bias to (N, 24, 31, 31) then GELU; the
    blocks then give 15, 7 and 3 pixels. The fast recipe sets its weights to whiten the
    input patches (`fast.init_whitening`). Each block is conv -> max-pool -> BN -> GELU ->
    conv -> BN -> GELU. About 2M parameters at the default widths; widths=(16, 64, 64) is
    a CPU-sized version. The remaining options are the fast recipe's tricks: `dirac` starts
    each 3x3 conv as the identity on its first channels, `frozen_bn_scale` trains only the
    BatchNorm shifts, `logit_scale` multiplies the logits.
    """
    if stem not in ("conv", "patch"):
        raise ValueError(f"stem must be 'conv' or 'patch', got {stem!r}.")
    norm = dict(bn_momentum=bn_momentum, bn_eps=bn_eps, frozen_bn_scale=frozen_bn_scale)
    if stem == "conv":
        c_in = max(1, widths[0] // 2)
        layers: list[nn.Module] = [conv_bn(3, c_in, **norm)]
    else:
        c_in = 2 * 3 * 2 * 2  # the whitening filters of 2x2 patches and their negatives
        layers = [nn.Conv2d(3, c_in, 2, bias=True), nn.GELU()]
    for w in widths:
        layers += [nn.Conv2d(c_in, w, 3, padding=1, bias=False), nn.MaxPool2d(2),
                   batchnorm(w, momentum=bn_momentum, eps=bn_eps, frozen_scale=frozen_bn_scale),
                   nn.GELU(), conv_bn(w, w, **norm)]
        if dropout2d:
            layers.append(nn.Dropout2d(dropout2d))
        c_in = w
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Dropout(dropout),
               nn.Linear(c_in, num_classes, bias=head_bias)]
    if logit_scale != 1.0:
        layers.append(Scale(logit_scale))
    model = nn.Sequential(*layers)
    if dirac:
        for m in model.modules():
            if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
                nn.init.dirac_(m.weight.data[:m.in_channels])
    return model


def downsampled(model: nn.Module, *, factor: int = 2) -> nn.Module:
    """`model` fed inputs average-pooled by `factor` (32x32 -> 16x16 at factor 2)."""
    return nn.Sequential(nn.AvgPool2d(factor), model)


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the last nn.Linear for a fresh one with `num_classes` outputs (fine-tuning)."""
    parent, name, last = None, None, None
    for module in model.modules():
        for child_name, child in module.named_children():
            if isinstance(child, nn.Linear):
                parent, name, last = module, child_name, child
    if last is None:
        raise ValueError("replace_head needs a model with an nn.Linear layer.")
    setattr(parent, name, nn.Linear(last.in_features, num_classes).to(last.weight.device))
    return model


RESNET18_IMAGENET_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"


def imagenet_resnet18(*, num_classes: int = 10, pretrained: bool = True,
                      url: str = RESNET18_IMAGENET_URL, cache_dir=None,
                      progress: bool = True) -> nn.Module:
    """torchvision's ResNet-18 (ImageNet's shape: 7x7 stride-2 stem, max-pool) with a new
    `num_classes` head: ImageNet weights (`pretrained`, ~45 MB fetched once through the
    checksummed download) or a fresh init of the same net (the from-scratch reference).

    (N, 3, H, W) -> (N, num_classes). Raises RuntimeError saying what to do when the
    weights cannot be fetched (offline). The weights expect inputs normalized with
    ImageNet's mean and std; fine-tuning on CIFAR-10's own adapts to the small difference.
    """
    import torchvision

    from .download import DownloadError, fetch_hub_weights

    model = torchvision.models.resnet18(weights=None)
    if pretrained:
        try:
            path = fetch_hub_weights(url, cache_dir=cache_dir, progress=progress)
        except DownloadError as e:
            raise RuntimeError(
                f"Could not fetch the ImageNet ResNet-18 weights: {e} This needs internet once "
                "(the file is then cached); offline, skip this experiment.") from e
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return replace_head(model, num_classes)


def pretrained_resnet18(*, num_classes: int = 10, **kwargs) -> nn.Module:
    """`imagenet_resnet18` with its ImageNet weights (see there)."""
    return imagenet_resnet18(num_classes=num_classes, pretrained=True, **kwargs)


def count_flops(model: nn.Module, in_shape: tuple[int, int, int] = (3, 32, 32)) -> int:
    """Multiply-accumulates (MACs) of one forward pass on one (C, H, W) input.

    Counted by `torch.utils.flop_counter.FlopCounterMode`, so every matrix product counts:
    convolutions, linear layers, batched matmuls and attention, not only Conv2d and
    Linear modules. It reports FLOPs (2 per multiply-accumulate); this returns half.
    Elementwise work (activations, norms, pooling) is left out, as there.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with eval_mode(model), torch.no_grad(), counter:
        model(torch.zeros(1, *in_shape, device=device_of(model)))
    return counter.get_total_flops() // 2


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection (ResNet-18's block)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.bn1(self.conv1(x)).relu()
        return (self.bn2(self.conv2(out)) + self.shortcut(x)).relu()


def resnet18(*, num_classes: int = 10, width: int = 64, dropout: float = 0.0,
             blocks: tuple[int, ...] = (2, 2, 2, 2)) -> nn.Module:
    """ResNet-18 for 32x32 inputs (3x3 stem, no max-pool), as in most CIFAR papers.

    (N, 3, 32, 32) -> stages at 32, 16, 8, 4 px with width x (1, 2, 4, 8) channels
    -> global average -> logits (N, num_classes). 11.2M parameters at width 64.
    """
    layers = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    c_in = width
    for stage, n in enumerate(blocks):
        c_out = width * 2 ** stage
        for b in range(n):
            layers.append(BasicBlock(c_in, c_out, stride=2 if stage > 0 and b == 0 else 1))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c_in, num_classes)]
    return nn.Sequential(*layers)


def mlp(*, num_classes: int = 10, hidden: int = 256, dropout: float = 0.0,
        in_features: int = 3 * 32 * 32) -> nn.Module:
    """Flatten -> Linear -> ReLU -> Dropout -> Linear."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(),
                         nn.Dropout(dropout), nn.Linear(hidden, num_classes))


def set_output_bias(model: nn.Module, class_counts) -> nn.Module:
    """Set the last Linear layer's bias to log(class prior), so that the untrained model
    already predicts the class frequencies (no "hockey stick" at the start of training).

    class_counts: (C,) counts or frequencies of each class in the training set.
    """

    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not last or last[-1].bias is None:
        raise ValueError("set_output_bias needs a final nn.Linear layer with a bias.")
    counts = torch.as_tensor(class_counts, dtype=torch.float32)
    if counts.shape != last[-1].bias.shape or (counts <= 0).any():
        raise ValueError(f"class_counts must be {tuple(last[-1].bias.shape)} positive numbers.")
    with torch.no_grad():
        last[-1].bias.copy_((counts / counts.sum()).log())
    return model


def recalibrate_batchnorm(model: nn.Module, loader) -> nn.Module:
    """Re-estimate every BatchNorm's running mean and variance with dropout switched off.

    Dropout before a BatchNorm layer changes the variance the layer sees: in training the
    running statistics are gathered with units dropped, at test time none are, so the
    normalization no longer fits (the "variance shift" of Li et al., 2019). One pass over
    `loader` (unaugmented training inputs) in train mode, dropout in eval mode, with
    cumulative averages, makes the statistics those of test time. No weight changes. If
    the pass fails (or the loader is empty) the old statistics are put back and the error
    raised. Returns the model, every module back in the mode (train or eval) it was in.
    """
    norms = [m for m in model.modules()
             if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d)]
    if not norms:
        raise ValueError("recalibrate_batchnorm needs a model with BatchNorm layers.")
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone(),
              m.num_batches_tracked.clone()) for m in norms]
    device = next(model.parameters()).device
    batches, ok = 0, False
    try:
        with in_mode(model, True), torch.no_grad():  # the caller's modes come back after
            for m in model.modules():
                if isinstance(m, nn.Dropout | nn.Dropout1d | nn.Dropout2d | nn.Dropout3d
                              | nn.AlphaDropout):
                    m.eval()
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the whole pass
            for inputs, _ in loader:
                model(inputs.to(device))
                batches += 1
        if batches == 0:
            raise ValueError("recalibrate_batchnorm got an empty loader; the statistics are "
                             "left as they were.")
        ok = True
    finally:
        for m, (momentum, mean, var, count) in zip(norms, saved):
            m.momentum = momentum
            if not ok:  # never leave reset statistics behind
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)
    return model
