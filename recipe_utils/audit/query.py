"""A small query API over an image set: filter, sort and page by class, index or score."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np

from .inputs import check_images, check_labels


@dataclasses.dataclass(frozen=True, repr=False)
class ImageQuery:
    """A selection of images (by index, in order) with named per-image scores.

    Every method returns a new ImageQuery; nothing is copied until `.images`.
    """

    all_images: np.ndarray  # uint8 (N, H, W, 3)
    all_labels: np.ndarray  # int64 (N,)
    classes: tuple[str, ...] = ()
    scores: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    indices: np.ndarray | None = None  # selected, in display order; None = all

    def __post_init__(self):
        images = check_images(self.all_images, "images")
        object.__setattr__(self, "all_images", images)
        object.__setattr__(self, "all_labels", check_labels(self.all_labels, len(images)))
        if self.indices is None:
            object.__setattr__(self, "indices", np.arange(len(images)))
        for name, values in self.scores.items():
            if len(values) != len(images):
                raise ValueError(f"score {name!r} has {len(values)} values for {len(images)} images.")

    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return f"ImageQuery({len(self)} of {len(self.all_labels)} images, scores={list(self.scores)})"

    @property
    def images(self) -> np.ndarray:
        return self.all_images[self.indices]

    @property
    def labels(self) -> np.ndarray:
        return self.all_labels[self.indices]

    def score(self, name: str) -> np.ndarray:
        """The named score of the selected images, in order."""
        if name not in self.scores:
            raise KeyError(f"No score {name!r}; have {sorted(self.scores)}. Add with with_scores().")
        return self.scores[name][self.indices]

    def _select(self, indices) -> ImageQuery:
        return dataclasses.replace(self, indices=np.asarray(indices, dtype=np.int64))

    def with_scores(self, **scores) -> ImageQuery:
        """Attach per-image scores, each (N,) over ALL images."""
        merged = {**self.scores, **{k: np.asarray(v) for k, v in scores.items()}}
        return dataclasses.replace(self, scores=merged)

    def where(self, *, label: int | str | Iterable | None = None, index: Iterable | None = None,
              mask: np.ndarray | None = None, **ranges: tuple[float | None, float | None]
              ) -> ImageQuery:
        """Keep images of some class(es) (index or name), among given indices, where a
        boolean mask (N,) over all images holds, or with scores in [low, high] ranges,
        e.g. `where(label="cat", brightness=(None, 0.2))`."""
        keep = np.ones(len(self.indices), bool)
        if label is not None:
            wanted = [label] if isinstance(label, (int, np.integer, str)) else list(label)
            ids = [self.classes.index(w) if isinstance(w, str) else int(w) for w in wanted]
            keep &= np.isin(self.labels, ids)
        if index is not None:
            keep &= np.isin(self.indices, np.fromiter(index, dtype=np.int64))
        if mask is not None:
            keep &= np.asarray(mask, bool)[self.indices]
        for name, (low, high) in ranges.items():
            values = self.score(name)
            keep &= (values >= (-np.inf if low is None else low)) & (values <= (np.inf if high is None else high))
        return self._select(self.indices[keep])

    def sort_by(self, name: str, *, descending: bool = True) -> ImageQuery:
        """Order by a score (stable), highest first unless descending=False."""
        values = self.score(name)
        order = np.argsort(-values if descending else values, kind="stable")
        return self._select(self.indices[order])

    def head(self, n: int) -> ImageQuery:
        return self._select(self.indices[:n])

    def page(self, number: int, *, per_page: int = 50) -> ImageQuery:
        """Page `number` (0-based) of `per_page` images."""
        return self._select(self.indices[number * per_page:(number + 1) * per_page])

    def show(self, *, n: int = 50, ncols: int = 10, ax=None, title: str | None = None):
        """Grid of the first n selected images with class names; returns the ax."""
        from ..plots import show_images

        head = self.head(n)
        if len(head) == 0:
            raise ValueError("Nothing to show: the query selected no images.")
        return show_images(head.images, head.labels, classes=self.classes or None,
                           ncols=ncols, ax=ax, title=title)
