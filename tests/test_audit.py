"""Audit tools on planted problems: duplicates, outliers, label errors; input errors."""

import io

import numpy as np
import pytest

from recipe_utils import audit


def natural_images(n: int, seed: int = 0, size: int = 32) -> np.ndarray:
    """Smooth, varied uint8 images: coloured blobs on a gradient, with mild texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), np.float32)
    for k in range(n):
        img = rng.uniform(0, 1, 3) * (1 - yy[..., None]) + rng.uniform(0, 1, 3) * yy[..., None]
        for _ in range(rng.integers(6, 12)):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.04, 0.25)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r ** 2))
            img = img * (1 - blob[..., None]) + rng.uniform(0, 1, 3) * blob[..., None]
        out[k] = img + rng.normal(0, 0.02, (size, size, 3))
    return (out.clip(0, 1) * 255).round().astype(np.uint8)


def jpeg(image, quality=75):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def shift(image, dy, dx):
    padded = np.pad(image, ((3, 3), (3, 3), (0, 0)), mode="reflect")
    return padded[3 + dy:35 + dy, 3 + dx:35 + dx]


def crop_rescale(image, margin):
    from PIL import Image

    crop = image[margin:32 - margin, margin:32 - margin]
    return np.asarray(Image.fromarray(crop).resize((32, 32), Image.BILINEAR))


PLANTS = {
    "exact": lambda x: x.copy(),
    "jpeg": jpeg,
    "shift_1px": lambda x: shift(x, 1, 0),
    "shift_2px": lambda x: shift(x, -2, 1),
    "shift_3px": lambda x: shift(x, 3, -3),
    "flip": lambda x: x[:, ::-1].copy(),
    "brighter": lambda x: np.clip(x.astype(int) + 40, 0, 255).astype(np.uint8),
    "lower_contrast": lambda x: (128 + 0.6 * (x.astype(float) - 128)).round().astype(np.uint8),
    "crop_rescale": lambda x: crop_rescale(x, 2),
    "jpeg_flip_shift": lambda x: jpeg(shift(x[:, ::-1], 2, 2)),
}


@pytest.fixture(scope="module")
def planted():
    base = natural_images(300, seed=1)
    sources = np.arange(len(PLANTS)) * 7
    copies = np.stack([plant(base[s]) for plant, s in zip(PLANTS.values(), sources)])
    return base, copies, sources


def test_every_kind_of_duplicate_is_found_across_sets(planted):
    base, copies, sources = planted
    pairs = audit.find_duplicates(copies, base)
    found = {(int(i), int(j)) for i, j in zip(pairs.i, pairs.j)}
    for k, name in enumerate(PLANTS):
        assert (k, sources[k]) in found, f"{name} copy not found"
    # and nothing else: the 300 base images are all different
    assert len(found) == len(PLANTS)
    assert np.all(np.diff(pairs.distance) >= 0)


def test_duplicates_inside_one_set(planted):
    base, copies, sources = planted
    images = np.concatenate([base, copies])
    pairs = audit.find_duplicates(images)
    expected = {(int(s), 300 + k) for k, s in enumerate(sources)}
    assert {(int(i), int(j)) for i, j in zip(pairs.i, pairs.j)} == expected
    assert np.all(pairs.i < pairs.j)
    groups = audit.duplicate_groups(pairs, len(images))
    assert groups[sources[3]] == groups[303] and len(np.unique(groups)) == 300


def test_max_pairs_returns_the_closest_even_above_threshold(planted):
    base, _, _ = planted
    pairs = audit.find_duplicates(base[:50], max_pairs=5)
    assert len(pairs) == 5 and np.all(pairs.distance > audit.DEFAULT_THRESHOLD)


def test_duplicate_input_errors():
    with pytest.raises(TypeError, match="uint8"):
        audit.find_duplicates(np.zeros((4, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        audit.find_duplicates(np.zeros((4, 3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        audit.find_duplicates(np.zeros((0, 32, 32, 3), np.uint8))


def test_constant_and_noise_images_are_top_outliers():
    images = natural_images(200, seed=2)
    rng = np.random.default_rng(0)
    images[17] = 128  # constant grey
    images[42] = rng.integers(0, 256, (32, 32, 3))  # pure noise
    images[99] = 3  # almost black
    scores = audit.outlier_scores(images)
    assert set(scores.ranked()[:3]) == {17, 42, 99}
    assert scores.ranked("low_information")[0] == 17
    assert scores.ranked("noisy")[0] == 42
    assert scores.ranked("too_dark")[0] == 99
    assert scores.score.shape == (200,) and np.all(scores.score >= 0)


def test_odd_sizes_are_scored_when_sizes_vary():
    images = list(natural_images(30, seed=3))
    images.append(natural_images(1, seed=4, size=64)[0][:, :16])  # 64x16: odd aspect
    scores = audit.outlier_scores(images)
    assert scores.ranked("odd_size_or_aspect")[0] == 30
    assert "odd_size_or_aspect" not in audit.outlier_scores(natural_images(10)).components


def _model_probs(labels, num_classes=10, seed=0):
    """Out-of-sample-like probabilities: confident in the true class, with noise."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (len(labels), num_classes))
    logits[np.arange(len(labels)), labels] += 4
    probs = np.exp(logits)
    return probs / probs.sum(1, keepdims=True)


def test_flipped_labels_rank_first():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 10, 2000)
    probs = _model_probs(true)
    given = true.copy()
    flipped = rng.choice(2000, 40, replace=False)
    given[flipped] = (true[flipped] + rng.integers(1, 10, 40)) % 10
    for method in audit.labels.METHODS:
        ranked = audit.find_label_issues(given, probs, method=method)
        assert audit.precision_at_k(ranked, set(flipped.tolist()), 40) >= 0.95
        assert set(ranked[:40]) <= set(flipped) | set(ranked[:40])
    unfiltered = audit.find_label_issues(given, probs, filter_by=None)
    assert len(unfiltered) == 2000 and set(unfiltered[:35]) <= set(flipped)


def test_label_issue_input_errors():
    probs = _model_probs(np.arange(10) % 10)
    with pytest.raises(ValueError, match="softmax"):
        audit.find_label_issues(np.arange(10), np.log(probs))
    with pytest.raises(ValueError, match="has 9 entries"):
        audit.find_label_issues(np.arange(9), probs)
    with pytest.raises(ValueError, match="only 10 classes"):
        audit.find_label_issues(np.full(10, 12), probs)
    with pytest.raises(ValueError, match="Unknown method"):
        audit.label_quality(np.arange(10), probs, method="vibes")


def test_agrees_with_cleanlab_when_installed():
    cleanlab = pytest.importorskip("cleanlab.filter")
    rng = np.random.default_rng(1)
    true = rng.integers(0, 10, 2000)
    given = true.copy()
    flipped = rng.choice(2000, 60, replace=False)
    given[flipped] = (true[flipped] + 1) % 10
    probs = _model_probs(true, seed=1)
    ours = set(audit.find_label_issues(given, probs))
    theirs = set(np.flatnonzero(cleanlab.find_label_issues(given, probs, filter_by="confident_learning")))
    assert len(ours & theirs) / len(ours | theirs) > 0.9


def test_statistics():
    images = natural_images(50)
    images[0] = 0
    stats = audit.image_stats(images)
    assert stats["brightness"][0] == 0 and stats["contrast"][0] == 0
    assert np.all((stats["saturation"] >= 0) & (stats["saturation"] <= 1))
    assert list(audit.class_balance(np.array([0, 2, 2]), num_classes=4)) == [1, 0, 2, 0]
    means = audit.per_class(stats["brightness"], np.arange(50) % 5)
    assert means.shape == (5,)


def test_query_filters_sorts_and_pages():
    images = natural_images(40)
    labels = np.arange(40) % 4
    q = audit.ImageQuery(images, labels, classes=("a", "b", "c", "d"))
    q = q.with_scores(brightness=audit.image_stats(images)["brightness"])
    cats = q.where(label="b")
    assert len(cats) == 10 and set(cats.labels) == {1}
    bright = q.sort_by("brightness")
    assert np.all(np.diff(bright.score("brightness")) <= 0)
    dim = q.where(brightness=(None, np.median(q.score("brightness"))))
    assert len(dim) == 20
    assert list(q.where(index=[5, 3, 99]).indices) == [3, 5]
    assert len(q.page(1, per_page=15)) == 15 and len(q.page(2, per_page=15)) == 10
    page = audit.browse_page({"train": q}, split="train", label="c", sort="brightness", page=0,
                             per_page=4)
    assert len(page) == 4 and set(page.labels) == {2}
    with pytest.raises(KeyError, match="No score 'size'"):
        q.sort_by("size")
    with pytest.raises(ValueError, match="has 3 values"):
        q.with_scores(bad=np.zeros(3))


def test_cross_val_probs_are_out_of_sample_and_find_flipped_labels():

    from recipe_utils import models
    from recipe_utils.crossval import cross_val_probs
    from recipe_utils.train import TrainConfig

    rng = np.random.default_rng(0)
    true = rng.integers(0, 4, 400)
    images = rng.integers(0, 60, (400, 32, 32, 3)).astype(np.uint8)
    images[..., 0] += (true * 60).astype(np.uint8)[:, None, None]  # class = red level
    given = true.copy()
    flipped = rng.choice(400, 12, replace=False)
    given[flipped] = (true[flipped] + 2) % 4
    config = TrainConfig(lr=1e-2, eval_train=False)
    probs = cross_val_probs(images, given, make_model=lambda: models.tiny_cnn(num_classes=4, width=8),
                            config=config, epochs=6, folds=2, batch_size=50)
    assert probs.shape == (400, 4) and np.allclose(probs.sum(1), 1, atol=1e-5)
    ranked = audit.find_label_issues(given, probs)
    assert audit.precision_at_k(ranked, set(flipped.tolist()), 12) >= 0.75
    with pytest.raises(ValueError, match="folds must be at least 2"):
        cross_val_probs(images, given, make_model=None, config=config, epochs=6, folds=1)
