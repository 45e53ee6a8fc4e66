"""Outlier scores: which images are unusual, and in which way.

Outliers nearly always reveal a quality or preprocessing bug (a blank frame, a wrong
colour space, a thumbnail of a thumbnail), so each score is named: sort by it and look.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .inputs import check_images
from .stats import image_stats


@dataclasses.dataclass(frozen=True)
class OutlierScores:
    """`score` float32 (N,), higher = more unusual: the largest of the components.

    Each component is a robust z-score (distance from the median in units of the median
    absolute deviation) in its unusual direction only, floored at 0.
    """

    score: np.ndarray
    components: dict[str, np.ndarray]

    def ranked(self, component: str | None = None) -> np.ndarray:
        """Indices, most unusual first, by `score` or by one named component."""
        values = self.score if component is None else self.components[component]
        return np.argsort(-values, kind="stable")


def robust_z(values: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 MAD): about a standard normal z-score for normal data."""
    median = np.median(values)
    mad = 1.4826 * np.median(np.abs(values - median))
    return (values - median) / max(mad, 1e-6 * max(abs(median), 1.0))


def outlier_scores(images) -> OutlierScores:
    """Score every image. images: uint8 (N, H, W, 3), or a list of uint8 (H_i, W_i, 3).

    Components: low_information (flat, few grey levels), too_dark, too_bright,
    low_contrast, oversaturated, noisy (high-frequency energy far above the image's
    contrast, as in noise or corruption), blurry, and odd_size_or_aspect when the
    images do not all have the same size.
    """
    sizes = None
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("images is empty.")
        sizes = np.array([np.asarray(im).shape[:2] for im in images], dtype=np.float64)
        images = np.stack([_to32(check_images(np.asarray(im)[None], "images")[0]) for im in images])
    stats = image_stats(check_images(images))
    z = {k: robust_z(v) for k, v in stats.items()}
    components = {
        "low_information": np.maximum(-z["entropy"], -z["contrast"]),
        "too_dark": -z["brightness"],
        "too_bright": z["brightness"],
        "low_contrast": -z["contrast"],
        "oversaturated": z["saturation"],
        "noisy": z["noisiness"],
        "blurry": -z["sharpness"],
    }
    if sizes is not None and len(np.unique(sizes, axis=0)) > 1:
        area, aspect = robust_z(np.log(sizes.prod(1))), robust_z(np.log(sizes[:, 1] / sizes[:, 0]))
        components["odd_size_or_aspect"] = np.maximum(np.abs(area), np.abs(aspect))
    components = {k: np.maximum(v, 0).astype(np.float32) for k, v in components.items()}
    score = np.max(np.stack(list(components.values())), axis=0)
    return OutlierScores(score=score, components=components)


def _to32(image: np.ndarray) -> np.ndarray:
    """Resize one uint8 (H, W, 3) image to 32x32 so statistics are comparable."""
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((32, 32), Image.BILINEAR))
