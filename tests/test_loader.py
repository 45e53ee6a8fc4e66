"""The device-resident loader: batches, normalization, augmentation, seeding."""

import numpy as np
import pytest
import torch

from recipe_utils.loader import Augment, DeviceLoader, translate_batch


def _labelled_images(n=64):
    """Images whose pixels encode their own index and label, so we can trace them."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    return images, labels


def _loader(images, labels, **kw):
    kw.setdefault("batch_size", 16)
    return DeviceLoader(images, labels, mean=[0.5] * 3, std=[0.25] * 3, **kw)


def test_batches_cover_the_split_normalized():
    images, labels = _labelled_images(70)
    loader = _loader(images, labels)
    batches = list(loader)
    assert len(loader) == len(batches) == 5 and len(batches[-1][1]) == 6
    inputs = torch.cat([x for x, _ in batches])
    expected = (torch.tensor(images).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(inputs, expected)
    assert len(_loader(images, labels, drop_last=True)) == 4


def test_denormalize_returns_the_exact_pixels():
    images, labels = _labelled_images()
    loader = _loader(images, labels)
    inputs, _ = next(iter(loader))
    np.testing.assert_array_equal(loader.denormalize(inputs).numpy(), images[:16])


def test_shuffle_keeps_labels_with_images_and_is_seeded_per_epoch():
    images, labels = _labelled_images()
    loader = _loader(images, labels, shuffle=True, seed=1)
    lookup = {images[i].tobytes(): labels[i] for i in range(len(images))}
    epoch0 = list(loader)
    epoch1 = list(loader)  # the loader moved on to epoch 1 by itself
    for inputs, targets in epoch0:
        for x, y in zip(loader.denormalize(inputs).numpy(), targets.numpy()):
            assert lookup[x.tobytes()] == y
    assert not torch.equal(epoch0[0][1], epoch1[0][1])
    loader.set_epoch(0)
    torch.testing.assert_close(next(iter(loader))[0], epoch0[0][0])


def test_flipped_images_are_mirrors_and_keep_labels():
    images, labels = _labelled_images()
    loader = _loader(images, labels, batch_size=64, augment=Augment(flip=True))
    inputs, targets = next(iter(loader))
    out = loader.denormalize(inputs).numpy()
    flipped = [np.array_equal(o, x[:, ::-1]) for o, x in zip(out, images)]
    kept = [np.array_equal(o, x) for o, x in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 16 < sum(flipped) < 48  # about half, from 64 draws
    np.testing.assert_array_equal(targets.numpy(), labels)


def test_translate_shifts_content_and_respects_bounds():
    image = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    image[0, 0, 4, 4] = 255
    generator = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(200):
        out = translate_batch(image.float(), 2, generator)
        ys, xs = torch.nonzero(out[0, 0] == 255, as_tuple=True)
        assert len(ys) == 1  # one bright pixel, moved, never duplicated or lost
        seen.add((ys.item() - 4, xs.item() - 4))
    assert seen == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}


def test_translated_images_are_shifted_copies_with_their_labels():
    images, labels = _labelled_images()
    loader = _loader(images, labels, batch_size=64, augment=Augment(translate=3), shuffle=True)
    inputs, targets = next(iter(loader))
    out = loader.denormalize(inputs).numpy()
    for o, t in zip(out[:16], targets.numpy()[:16]):
        # the interior of each output is an exact shifted window of exactly one source image
        matches = {(k, dy, dx) for k in range(len(images)) for dy in range(-3, 4)
                   for dx in range(-3, 4)
                   if np.array_equal(o[3:-3, 3:-3], images[k][3 + dy:29 + dy, 3 + dx:29 + dx])}
        assert len(matches) == 1
        (k, _, _), = matches
        assert labels[k] == t


def test_cutout_zeroes_a_square_in_normalized_space():
    images, labels = _labelled_images()
    loader = _loader(images, labels, batch_size=64, augment=Augment(cutout=8))
    inputs, _ = next(iter(loader))
    plain, _ = next(iter(loader.without_augmentation()))
    changed = (inputs != plain).any(1)  # (N, H, W)
    assert torch.all(inputs.masked_select(~torch.isclose(inputs, plain)) == 0)
    assert torch.all(changed.sum((1, 2)) <= 64) and changed.sum() > 0


def test_augmentation_is_reproducible():
    images, labels = _labelled_images()
    aug = Augment(flip=True, translate=2, cutout=6)
    a = list(_loader(images, labels, augment=aug, shuffle=True, seed=5))
    b = list(_loader(images, labels, augment=aug, shuffle=True, seed=5))
    for (xa, ya), (xb, yb) in zip(a, b):
        torch.testing.assert_close(xa, xb)
        torch.testing.assert_close(ya, yb)


def test_bad_input_is_refused():
    images, labels = _labelled_images()
    with pytest.raises(ValueError, match="uint8"):
        _loader(images.astype(np.float32), labels)
    with pytest.raises(ValueError, match="same"):
        _loader(images, labels[:-1])
