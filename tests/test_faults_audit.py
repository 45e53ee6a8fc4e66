"""Degenerate inputs to `find_duplicates`: a single image, blank (flat) frames."""

import numpy as np
from test_audit import jpeg, natural_images

from recipe_utils import audit


def test_a_single_image_has_no_duplicate():
    one = natural_images(1, seed=3)
    assert len(audit.find_duplicates(one)) == 0
    assert len(audit.find_duplicates(one, max_pairs=5)) == 0  # no threshold: still not (0, 0)
    assert len(audit.find_duplicates(natural_images(4, seed=3), max_pairs=10)) == 6  # all pairs


def test_identical_black_or_white_frames_are_duplicates_of_each_other_only():
    images = natural_images(6, seed=4)
    black, white = np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8)
    grey = np.full((32, 32, 3), 128, np.uint8)
    stack = np.stack([images[0], black, white, images[1], black, jpeg(white), grey, images[2]])
    pairs = audit.find_duplicates(stack)
    assert sorted(zip(pairs.i.tolist(), pairs.j.tolist())) == [(1, 4), (2, 5)]
    assert pairs.distance.max() < 0.02  # the JPEG'd white frame is a near-exact match
    across = audit.find_duplicates(np.stack([black, grey]), np.stack([images[3], white, black]))
    assert list(zip(across.i.tolist(), across.j.tolist())) == [(0, 2)]
