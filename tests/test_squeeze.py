"""Ensembles, distillation and test-time augmentation (recipe_utils.squeeze)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from recipe_utils import DeviceLoader, TrainConfig, fit, predict
from recipe_utils.squeeze import (
    DistillationLoss,
    Ensemble,
    TeacherLoader,
    agreement,
    distillation_loss,
    ensemble_curve,
    predict_tta,
    tta_logits,
)


def test_ensemble_forward_is_the_log_of_the_mean_probability():
    torch.manual_seed(0)
    members = [nn.Linear(5, 3) for _ in range(3)]
    x = torch.randn(7, 5)
    expected = torch.stack([torch.softmax(m(x), 1) for m in members]).mean(0).log()
    torch.testing.assert_close(Ensemble(members)(x), expected)
    torch.testing.assert_close(Ensemble(members[:1])(x), F.log_softmax(members[0](x), 1))
    with pytest.raises(ValueError, match="at least one"):
        Ensemble([])


def test_ensemble_curve_majority_fixes_independent_mistakes():
    targets = np.zeros(3, dtype=int)
    # each of three models is confidently right on two examples and mildly wrong on one
    logits = np.zeros((3, 3, 2))
    logits[:, :, 0] = 3.0
    for k in range(3):
        logits[k, k] = [0.0, 1.0]
    curve = ensemble_curve(logits, targets)
    assert curve[0] == pytest.approx(2 / 3)
    assert curve[-1] == 1.0
    with pytest.raises(ValueError, match="match"):
        ensemble_curve(logits, targets[:2])


def test_agreement():
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert agreement(a, a) == 1.0
    assert agreement(a, a[::-1]) == 0.0


def test_distillation_loss_limits_and_gradient():
    torch.manual_seed(0)
    student = torch.randn(6, 4, requires_grad=True)
    teacher = torch.randn(6, 4)
    targets = torch.randint(0, 4, (6,))
    hard = F.cross_entropy(student, targets)
    torch.testing.assert_close(distillation_loss(student, teacher, targets, alpha=0.0), hard)
    same = distillation_loss(student, student.detach(), targets, alpha=1.0)
    assert abs(same.item()) < 1e-6
    # the soft term's gradient is T (softmax(s/T) - softmax(t/T)) / N, by hand
    t = 3.0
    distillation_loss(student, teacher, targets, temperature=t, alpha=1.0).backward()
    by_hand = t * (torch.softmax(student / t, 1) - torch.softmax(teacher / t, 1)) / len(student)
    torch.testing.assert_close(student.grad, by_hand.detach())
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(student, teacher, targets, temperature=0.0)


def _noise_data(n=512, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, n)  # random: only a teacher can make sense of these images
    return images, labels


def test_a_student_learns_the_teacher_not_the_random_labels():
    images, labels = _noise_data()
    loader = DeviceLoader(images, labels, batch_size=64, mean=[0.5] * 3, std=[0.3] * 3,
                          shuffle=True, seed=0)
    torch.manual_seed(1)
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(192, 4))
    teacher_logits = predict(teacher, loader.without_augmentation())
    config = TrainConfig(lr=1e-2, eval_train=False)
    agree = {}
    for alpha in (0.0, 1.0):
        torch.manual_seed(2)
        student = nn.Sequential(nn.Flatten(), nn.Linear(192, 4))
        fit(student, TeacherLoader(loader, teacher), epochs=15, config=config,
            loss_fn=DistillationLoss(temperature=2.0, alpha=alpha), progress=False)
        agree[alpha] = agreement(predict(student, loader.without_augmentation()), teacher_logits)
    assert agree[1.0] > 0.9, agree
    assert agree[0.0] < 0.5, agree  # hard random labels alone do not recover the teacher
    with pytest.raises(ValueError, match="TeacherLoader"):
        DistillationLoss()(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))


def test_tta_levels():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 6, 5))  # 4x6: not square on purpose
    x = torch.randn(2, 3, 4, 6)
    torch.testing.assert_close(tta_logits(model, x, level=0), model(x))
    torch.testing.assert_close(tta_logits(model, x, level=1),
                               0.5 * (model(x) + model(x.flip(-1))))
    assert tta_logits(model, x, level=2).shape == (2, 5)
    with pytest.raises(ValueError, match="level"):
        tta_logits(model, x, level=3)
    # a model that only looks at a flip- and shift-invariant statistic gains nothing from TTA
    mean_model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 5))
    constant = torch.ones(2, 3, 4, 6) * torch.tensor([1.0, 2.0, 3.0])[None, :, None, None]
    torch.testing.assert_close(tta_logits(mean_model, constant, level=2), mean_model(constant))


def test_predict_tta_keeps_order_and_mode():
    images, labels = _noise_data(n=50)
    loader = DeviceLoader(images, labels, batch_size=16, mean=[0.5] * 3, std=[0.3] * 3,
                          shuffle=True, seed=0)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(192, 4)).train()
    plain = predict(model, loader.without_augmentation())
    torch.testing.assert_close(predict_tta(model, loader, level=0), plain)
    assert model.training


def test_teacher_loader_leaves_the_teachers_modes_as_they_were():
    images, labels = _noise_data(n=64)
    loader = DeviceLoader(images, labels, batch_size=32, mean=[0.5] * 3, std=[0.3] * 3)
    teacher = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(192, 4))
    teacher.train()
    batches = list(TeacherLoader(loader, teacher))
    assert all(m.training for m in teacher.modules())  # still in train mode, dropout too
    teacher.eval()
    torch.testing.assert_close(batches[0][1][:, 1:], teacher(batches[0][0]))  # eval-mode logits
