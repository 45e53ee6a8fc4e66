"""Splits, subsets and normalization statistics."""

import numpy as np
import pytest

from recipe_utils.cifar import CIFAR10
from recipe_utils.data import channel_stats, make_splits, split_train_val, stratified_subset


def _data(n_train=1000, n_test=200, seed=0):
    rng = np.random.default_rng(seed)
    # class-grouped train order, like the offline bundle
    labels = np.repeat(np.arange(10), n_train // 10)
    return CIFAR10(rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8), labels,
                   rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
                   np.arange(n_test) % 10, tuple("abcdefghij"), "test", False)


def test_split_is_deterministic_disjoint_stratified():
    labels = np.repeat(np.arange(10), 100)
    train, val = split_train_val(labels, val_size=200, seed=3)
    train2, val2 = split_train_val(labels, val_size=200, seed=3)
    np.testing.assert_array_equal(val, val2)
    np.testing.assert_array_equal(train, train2)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 1000
    assert np.all(np.bincount(labels[val]) == 20)
    _, val3 = split_train_val(labels, val_size=200, seed=4)
    assert not np.array_equal(val, val3)


def test_subset_sizes_add_up_with_uneven_classes():
    labels = np.array([0] * 7 + [1] * 3 + [2] * 11)
    for size in (1, 5, 10, 21):
        assert len(np.unique(stratified_subset(labels, size, seed=0))) == size
    with pytest.raises(ValueError, match="size must be"):
        stratified_subset(labels, 22)


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="non-empty 1-D integer"):
        split_train_val(np.array([]), val_size=1)
    with pytest.raises(ValueError, match="non-empty 1-D integer"):
        split_train_val(np.zeros(5, np.float32), val_size=1)


def test_channel_stats_match_numpy():
    images = np.random.default_rng(0).integers(0, 256, (7_003, 4, 4, 3), dtype=np.uint8)
    mean, std = channel_stats(images)
    as_float = images.reshape(-1, 3) / 255
    np.testing.assert_allclose(mean, as_float.mean(0), rtol=1e-5)
    np.testing.assert_allclose(std, as_float.std(0), rtol=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        channel_stats(images.astype(np.float32))


def test_make_splits_uses_train_only_statistics_and_fixed_validation():
    data = _data()
    full = make_splits(data, val_size=100, seed=0)
    small = make_splits(data, val_size=100, train_size=300, test_size=50, seed=0)
    np.testing.assert_array_equal(full.val.indices, small.val.indices)  # same judge
    assert len(small.train) == 300 and len(small.test) == 50
    assert np.all(np.diff(small.test.indices) > 0)  # test order kept
    np.testing.assert_allclose(small.mean, channel_stats(small.train.images)[0])
    np.testing.assert_array_equal(small.train.labels, data.train_labels[small.train.indices])
