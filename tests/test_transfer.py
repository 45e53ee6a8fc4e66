"""Transfer on CIFAR-10 itself: class subsets and the pretrain-then-fine-tune trainer."""

import numpy as np
import pytest
from test_study import tiny_splits

from recipe_utils import models
from recipe_utils.data import Split
from recipe_utils.spec import RunSpec
from recipe_utils.study import Study
from recipe_utils.train import TrainConfig
from recipe_utils.transfer import Transfer, class_subset, make_transfer_trainer


def test_class_subset_keeps_the_chosen_classes_and_renumbers_them_in_order():
    labels = np.array([3, 7, 1, 7, 3, 9])
    split = Split(np.arange(6)[:, None, None, None].astype(np.uint8), labels, np.arange(10, 16))
    chosen = class_subset(split, [7, 3])
    assert chosen.labels.tolist() == [1, 0, 0, 1]  # 7 -> 0, 3 -> 1, order of the split kept
    assert chosen.indices.tolist() == [10, 11, 13, 14]
    assert chosen.images[:, 0, 0, 0].tolist() == [0, 1, 3, 4]
    with pytest.raises(ValueError, match="no examples"):
        class_subset(split, [2])
    with pytest.raises(ValueError, match="distinct"):
        class_subset(split, [3, 3])


def _trainer(splits, **kwargs):
    nets = {"fast net": lambda k: models.fast_net(widths=(4, 8, 8), num_classes=k)}
    return make_transfer_trainer(splits, nets, source=range(5), target=range(5, 10),
                                 pretrain=RunSpec(train_size=40, batch_size=20),
                                 finetune=RunSpec(train_size=20, batch_size=10),
                                 config=TrainConfig(lr=1e-3), **kwargs)


def test_transfer_arms_fine_tune_the_same_images_and_only_pretraining_differs():
    splits = tiny_splits(n_train=120, n_val=40)
    study = Study(_trainer(splits), seeds=[0, 1])
    scratch = study.run("scratch", Transfer())
    rotations = study.run("rotations", Transfer(pretrain="rotations"), against="scratch")
    labels = study.run("labels", Transfer(pretrain="labels"), against="scratch")
    assert "pretrain_loss" not in scratch[0] and all("pretrain_loss" in r for r in rotations + labels)
    for row in scratch + rotations + labels:
        assert 0 <= row["val_acc"] <= 1 and row["epochs"] == 1
        # the target val split has 20 images (labels 5-9 of 40), so accuracy is a multiple of 1/20
        assert row["val_acc"] * 20 == pytest.approx(round(row["val_acc"] * 20))
    again = Study(_trainer(splits), seeds=[0, 1]).run("labels", Transfer(pretrain="labels"))
    assert [r["val_acc"] for r in again] == [r["val_acc"] for r in labels]  # deterministic
    with pytest.raises(ValueError, match="pretrain must be one of"):
        _trainer(splits)(Transfer(pretrain="imagenet"), seed=0)


def test_transfer_refuses_target_classes_the_pretraining_already_saw():
    nets = {"fast net": lambda k: models.fast_net(widths=(4, 8, 8), num_classes=k)}
    with pytest.raises(ValueError, match="share classes \\[4\\]"):
        make_transfer_trainer(tiny_splits(), nets, source=range(5), target=range(4, 10),
                              pretrain=RunSpec(train_size=40), finetune=RunSpec(train_size=20),
                              config=TrainConfig())


def test_an_imagenet_resnet_row_fine_tunes_downloaded_weights_against_the_same_net(tmp_path, serve):
    import hashlib

    import torch
    import torchvision

    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "w.pth")
    blob = (tmp_path / "w.pth").read_bytes()
    url = serve(blob).url.rsplit("/", 1)[0] + f"/resnet18-{hashlib.sha256(blob).hexdigest()[:8]}.pth"
    nets = {"ResNet-18": lambda k: models.imagenet_resnet18(num_classes=k, pretrained=False),
            "ImageNet ResNet-18": lambda k: models.imagenet_resnet18(
                num_classes=k, url=url, cache_dir=tmp_path / "cache", progress=False)}
    train = make_transfer_trainer(tiny_splits(n_train=120), nets, source=range(5), target=range(5, 10),
                                  pretrain=RunSpec(train_size=40),
                                  finetune=RunSpec(train_size=20, batch_size=10),
                                  config=TrainConfig(lr=1e-3))
    study = Study(train, seeds=[0, 1])
    study.run("ResNet-18 from scratch", Transfer(model="ResNet-18"))
    study.run("ImageNet ResNet-18", Transfer(model="ImageNet ResNet-18"), against="ResNet-18 from scratch")
    assert study.effect("ImageNet ResNet-18")["n"] == 2
