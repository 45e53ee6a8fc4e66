"""The model zoo: shapes, parameter and FLOP counts, determinism, head swap, 16x16 inputs."""

import pytest
import torch
from torch import nn

from recipe_utils import models

ZOO = {
    "linear": lambda **kw: models.linear(**kw),
    "tiny_cnn": lambda **kw: models.tiny_cnn(width=8, dropout=0.1, **kw),
    "resnet18": lambda **kw: models.resnet18(width=8, dropout=0.1, **kw),
    "fast_net": lambda **kw: models.fast_net(widths=(8, 16, 16), dropout=0.1, dropout2d=0.1, **kw),
    "mlp": lambda **kw: models.mlp(hidden=16, dropout=0.1, **kw),
}


@pytest.mark.parametrize("name", ZOO)
def test_shapes_and_num_classes(name):
    torch.manual_seed(0)
    x = torch.randn(3, 3, 32, 32)
    assert ZOO[name]()(x).shape == (3, 10)
    assert ZOO[name](num_classes=7)(x).shape == (3, 7)


@pytest.mark.parametrize("name", ZOO)
def test_same_seed_same_weights_and_outputs(name):
    x = torch.randn(2, 3, 32, 32)
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        outs.append(ZOO[name]().eval()(x))
    assert torch.equal(*outs)


def test_parameter_counts_match_the_architectures():
    # ResNet-18 for CIFAR is the well-known 11.17M; the others by hand
    assert models.count_parameters(models.resnet18()) == 11_173_962
    assert models.count_parameters(models.linear()) == 3 * 32 * 32 * 10 + 10
    w = 8  # conv 3->w, conv w->2w, linear 2w->10, with biases
    assert models.count_parameters(models.tiny_cnn(width=w)) == \
        (27 * w + w) + (9 * w * 2 * w + 2 * w) + (2 * w * 10 + 10)
    net = models.fast_net(widths=(8, 16, 16))
    frozen = next(net.parameters()).requires_grad_(False).numel()
    assert models.count_parameters(net) + frozen == models.count_parameters(net, trainable_only=False)


def test_flops_by_hand_and_for_resnet18():
    assert models.count_flops(models.linear()) == 3 * 32 * 32 * 10
    w = 4
    by_hand = 32 * 32 * w * 27 + 16 * 16 * 2 * w * 9 * w + 2 * w * 10
    assert models.count_flops(models.tiny_cnn(width=w)) == by_hand
    assert models.count_flops(models.resnet18()) == pytest.approx(556e6, rel=0.01)  # 0.56 GMACs
    assert models.count_flops(models.tiny_cnn(width=w), (3, 16, 16)) < by_hand / 3


def test_downsampled_and_replace_head():
    torch.manual_seed(0)
    net = models.downsampled(models.fast_net(widths=(8, 16, 16)))
    x = torch.randn(2, 3, 32, 32)
    assert net(x).shape == (2, 10)
    assert models.count_flops(net) < models.count_flops(models.fast_net(widths=(8, 16, 16))) / 3
    models.replace_head(net, 4)
    assert net(x).shape == (2, 4)
    with pytest.raises(ValueError, match="nn.Linear"):
        models.replace_head(nn.Sequential(nn.Conv2d(3, 3, 1)), 4)


def test_fast_net_dropout2d_only_in_training():
    torch.manual_seed(0)
    net = models.fast_net(widths=(8, 16, 16), dropout2d=0.5)
    x = torch.randn(4, 3, 32, 32)
    net.eval()
    assert torch.equal(net(x), net(x))
    assert any(isinstance(m, nn.Dropout2d) for m in net.modules())


def _generated_resnet18_weights(tmp_path):
    """A torchvision ResNet-18 state dict of random weights, as a hub-named file."""
    import hashlib

    import torch
    import torchvision

    torch.manual_seed(3)
    state = torchvision.models.resnet18(weights=None).state_dict()
    source = tmp_path / "generated.pth"
    torch.save(state, source)
    blob = source.read_bytes()
    return state, blob, hashlib.sha256(blob).hexdigest()


def test_imagenet_weights_come_through_the_checksummed_download(tmp_path, serve):
    import torch

    state, blob, digest = _generated_resnet18_weights(tmp_path)
    server = serve(blob)
    url = server.url.rsplit("/", 1)[0] + f"/resnet18-{digest[:8]}.pth"
    cache = tmp_path / "cache"
    model = models.imagenet_resnet18(num_classes=5, url=url, cache_dir=cache, progress=False)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items() if not k.startswith("fc."))
    assert model.fc.out_features == 5 and (cache / f"resnet18-{digest[:8]}.pth").is_file()
    models.imagenet_resnet18(num_classes=5, url=url, cache_dir=cache, progress=False)
    assert len(server.requests) == 1  # the verified file in the cache is not fetched again
    scratch = models.imagenet_resnet18(num_classes=5, pretrained=False)
    assert not torch.equal(scratch.conv1.weight, state["conv1.weight"])


def test_imagenet_weights_that_do_not_match_their_name_are_refused(tmp_path, serve, monkeypatch):
    monkeypatch.setattr("recipe_utils.download.time.sleep", lambda s: None)
    _, blob, digest = _generated_resnet18_weights(tmp_path)
    server = serve(blob)
    wrong = "0" * 8 if not digest.startswith("0" * 8) else "1" * 8
    url = server.url.rsplit("/", 1)[0] + f"/resnet18-{wrong}.pth"
    with pytest.raises(RuntimeError, match="checksum mismatch.*offline, skip"):
        models.imagenet_resnet18(url=url, cache_dir=tmp_path / "cache", progress=False)
    assert not list((tmp_path / "cache").glob("*.pth"))  # nothing unverified is kept
    with pytest.raises(ValueError, match="cannot be verified"):
        models.imagenet_resnet18(url=server.url, cache_dir=tmp_path / "cache")


def test_imagenet_weights_offline_give_a_clear_error_at_once(tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr("recipe_utils.download.time.sleep", lambda s: None)
    with socket.socket() as s:  # a port nobody listens on: refused, like a machine offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RuntimeError, match="Connection refused.*needs internet once"):
        models.pretrained_resnet18(url=f"http://127.0.0.1:{port}/resnet18-f37072fd.pth",
                                   cache_dir=tmp_path, progress=False)


def test_recalibrate_batchnorm_measures_statistics_without_dropout():
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Dropout2d(0.5), nn.BatchNorm2d(4),
                          nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    x = torch.randn(64, 3, 8, 8)
    model.train()
    for _ in range(5):  # running statistics gathered with half the channels dropped
        model(x)
    loader = [(x, None)]  # one batch: the cumulative average is that batch's statistics
    weights = [p.detach().clone() for p in model.parameters()]
    models.recalibrate_batchnorm(model, loader)
    with torch.no_grad():
        feature = model[0](x)  # what the BatchNorm sees at test time: no dropout
    bn = model[2]
    torch.testing.assert_close(bn.running_mean, feature.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bn.running_var, feature.var((0, 2, 3)), rtol=1e-3, atol=1e-4)
    assert bn.momentum == 0.1  # momentum restored
    assert all(m.training for m in model.modules())  # the caller's train mode, dropout too
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters()))  # no weight moved
    model.eval()
    models.recalibrate_batchnorm(model, loader)
    assert not any(m.training for m in model.modules())  # and an eval-mode model stays in eval
    with pytest.raises(ValueError, match="BatchNorm"):
        models.recalibrate_batchnorm(nn.Linear(2, 2), loader)


def test_recalibrate_batchnorm_puts_the_statistics_back_when_it_fails():
    import torch
    from torch import nn

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    model(torch.randn(8, 3, 6, 6))
    before = model[1].running_var.clone()
    with pytest.raises(ValueError, match="empty loader"):
        models.recalibrate_batchnorm(model, [])
    with pytest.raises(RuntimeError):  # a wrong input shape, mid-pass
        models.recalibrate_batchnorm(model, [(torch.randn(8, 5, 6, 6), None)])
    assert torch.equal(model[1].running_var, before) and model[1].momentum == 0.1
    assert model.training  # the mode it came in with, after a failure too


def test_count_flops_counts_matmuls_outside_conv_and_linear():
    class Attention(nn.Module):  # no Conv2d or Linear module: only functional matmuls
        def forward(self, x):
            tokens = x.flatten(2).transpose(1, 2)  # (1, 1024, 3)
            weights = (tokens @ tokens.transpose(1, 2)).softmax(-1)  # 1024 * 1024 * 3 MACs
            return (weights @ tokens).mean(1)  # another 1024 * 1024 * 3

    assert models.count_flops(Attention()) == 2 * 1024 * 1024 * 3
