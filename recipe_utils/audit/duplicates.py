"""Exact and near-duplicate images, found by a chunked nearest-neighbour search.

Each image becomes a small descriptor: the central 24x24 crop, average-pooled, then
centred and scaled to unit length. Centring and scaling make it blind to global
brightness and contrast changes; pooling absorbs JPEG noise. Two passes:

1. search: 8x8x3 descriptors; each query also at 2-pixel shifts and mirrored; each
   query keeps its `per_image` most similar references;
2. decide: those candidates are compared again at 12x12x3, with the query shifted by
   every offset up to 3 pixels, mirrored, and rescaled by -12%, 0 and +12%. A pair's distance is the best over these
   alignments: 1 - cosine similarity, 0 for identical images.

No N x M matrix is ever held: queries and references are processed in blocks and only
each query's few nearest references are kept.

A flat image (a blank black or white frame) has no pattern left once centred, so it is
matched apart: two flat images are duplicates when their mean colours agree, the
distance being the largest channel difference / 255.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from ..progress import bar
from .inputs import check_images

# chosen on CIFAR-10 (notebook 01 shows the trade-off): most of ciFAIR's near duplicates
# fall below it, while most ordinary test images have no training image this close
DEFAULT_THRESHOLD = 0.05
SHIFTS = (-2, 0, 2)  # coarse search
FINE_SHIFTS = tuple(range(-3, 4))  # re-scoring of each image's candidates, every pixel
FINE_SIZES = (28, 32, 36)  # ... and at three scales, for slight crops and rescales
_CROP, _POOL, _FINE_POOL = 24, 3, 2
FLAT_STD = 2.0  # pixel levels: below it the descriptor is noise, the colour is what is left


@dataclasses.dataclass(frozen=True)
class DuplicatePairs:
    """Pairs sorted by ascending distance. i indexes `images`; j indexes `other` (or
    `images`, with i < j, when no `other` was given)."""

    i: np.ndarray  # int64 (P,)
    j: np.ndarray  # int64 (P,)
    distance: np.ndarray  # float32 (P,)

    def __len__(self) -> int:
        return len(self.i)

    def __getitem__(self, key) -> DuplicatePairs:
        return DuplicatePairs(self.i[key], self.j[key], self.distance[key])


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, size, size)."""
    x = images.permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
    return x


def _descriptors(images: torch.Tensor, dy: int = 0, dx: int = 0, flip: bool = False,
                 pool: int = _POOL, x: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 (N, H, W, 3) (or `x`, already resized float) -> float32 (N, D) unit-length,
    zero-mean descriptors of the central 24x24 crop shifted by (dy, dx)."""
    x = _resize(images, 32) if x is None else x
    if flip:
        x = x.flip(-1)
    margin = (x.shape[-1] - _CROP) // 2
    top, left = margin + dy, margin + dx
    x = x[:, :, top:top + _CROP, left:left + _CROP]
    x = F.avg_pool2d(x, pool).flatten(1)
    x = x - x.mean(1, keepdim=True)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-6)


def _variants(images: torch.Tensor, shifts, flips: bool, pool: int = _POOL) -> list[torch.Tensor]:
    return [_descriptors(images, dy, dx, flip, pool)
            for flip in ((False, True) if flips else (False,))
            for dy in shifts for dx in shifts]


def _rescore(images: torch.Tensor, fine_refs: torch.Tensor, flips: bool) -> torch.Tensor:
    """Best fine similarity of each image (B,) to each of its candidates (B, k, D)."""
    best = None
    for size in FINE_SIZES:  # slight zoom out, none, slight zoom in
        x = _resize(images, size)
        reach = min(max(FINE_SHIFTS), (size - _CROP) // 2)
        for flip in (False, True) if flips else (False,):
            for dy in range(-reach, reach + 1):
                for dx in range(-reach, reach + 1):
                    q = _descriptors(images, dy, dx, flip, _FINE_POOL, x=x)
                    sim = torch.einsum("bd,bkd->bk", q, fine_refs)
                    best = sim if best is None else torch.maximum(best, sim)
    return best


def _flatness(images: np.ndarray, device, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bool (N,): flat central crop (std < FLAT_STD levels); float (N, 3) its mean colour."""
    # written into preallocated outputs: small per-block results kept between large
    # temporaries pinned freed heap memory, +465 MB RSS over CIFAR-10's training set
    flat = torch.empty(len(images), dtype=torch.bool, device=device)
    colour = torch.empty(len(images), 3, device=device)
    for s in range(0, len(images), block):
        x = _resize(torch.from_numpy(images[s:s + block]).to(device), 32)
        margin = (32 - _CROP) // 2
        x = F.avg_pool2d(x[:, :, margin:margin + _CROP, margin:margin + _CROP], _FINE_POOL)
        flat[s:s + len(x)] = x.flatten(1).std(1) < FLAT_STD
        colour[s:s + len(x)] = x.mean((2, 3))
    return flat, colour


def _flat_pairs(images, other, *, threshold, per_image, device, block):
    """(i, j, distance) of flat images whose mean colours agree within `threshold`."""
    flat_q, colour_q = _flatness(images, device, block)
    flat_r, colour_r = (flat_q, colour_q) if other is None else _flatness(other, device, block)
    qi, ri = flat_q.nonzero().flatten(), flat_r.nonzero().flatten()
    found = [], [], []
    for s in range(0, len(qi), block):
        rows = qi[s:s + block]
        distance = torch.cdist(colour_q[rows], colour_r[ri], p=float("inf")) / 255
        if other is None:  # an image is not its own duplicate
            distance[rows[:, None] == ri[None, :]] = float("inf")
        top = distance.topk(min(per_image, len(ri)), dim=1, largest=False)
        keep = (top.values <= threshold) & top.values.isfinite()
        found[0].append(rows[:, None].expand_as(keep)[keep].cpu())
        found[1].append(ri[top.indices][keep].cpu())
        found[2].append(top.values[keep].cpu())
    return [torch.cat(f).numpy() if f else np.zeros(0) for f in found]


def find_duplicates(
    images: np.ndarray,
    other: np.ndarray | None = None,
    *,
    max_pairs: int | None = None,
    threshold: float | None = None,
    per_image: int = 5,
    shifts: tuple[int, ...] = SHIFTS,
    flips: bool = True,
    device: str | torch.device = "cpu",
    block: int = 1024,
    progress: bool = True,
) -> DuplicatePairs:
    """Pairs of (near-)duplicate images, closest first.

    images: uint8 (N, H, W, 3); other: uint8 (M, H', W', 3) or None.
    threshold: keep pairs with distance <= threshold (default DEFAULT_THRESHOLD, or no
    limit when only `max_pairs` is given); max_pairs: keep the closest so many.
    per_image: how many nearest matches each image of `images` may contribute.
    progress: a bar over the query blocks (a search of 50,000 images takes minutes on CPU).
    """
    images = check_images(images, "images")
    if other is not None:
        other = check_images(other, "other")
    if threshold is None:
        threshold = np.inf if max_pairs is not None else DEFAULT_THRESHOLD
    device = torch.device(device)
    reference_images = images if other is None else other
    # descriptors in query-sized chunks: a float copy of 8 blocks of images and its
    # temporaries added ~300 MB to the peak; each image's descriptor is the same either way
    # (and into preallocated tensors, for the same reason as in _flatness)
    n_ref = len(reference_images)
    references = torch.empty(n_ref, 3 * (_CROP // _POOL) ** 2, device=device)
    fine_references = torch.empty(n_ref, 3 * (_CROP // _FINE_POOL) ** 2, device=device)
    for s in range(0, n_ref, block):
        chunk = torch.from_numpy(reference_images[s:s + block]).to(device)
        references[s:s + len(chunk)] = _descriptors(chunk)
        fine_references[s:s + len(chunk)] = _descriptors(chunk, pool=_FINE_POOL)
    k = min(per_image + (other is None), len(references))
    found_i, found_j, found_d = [], [], []
    searched = "images" if other is None else f"images x {len(other)}"
    with bar(range(0, len(images), block), desc=f"duplicates {len(images)} {searched}",
             enabled=progress, unit="block") as progress_bar:
        for start in progress_bar:
            batch = torch.from_numpy(images[start:start + block]).to(device)
            queries = _variants(batch, shifts, flips)
            rows = torch.arange(start, start + len(queries[0]), device=device)
            best_sim, best_idx = [], []
            for ref_start in range(0, len(references), 8 * block):
                ref = references[ref_start:ref_start + 8 * block]
                sim = queries[0] @ ref.T
                for q in queries[1:]:
                    torch.maximum(sim, q @ ref.T, out=sim)
                if other is None:  # an image is not its own duplicate
                    cols = torch.arange(ref_start, ref_start + len(ref), device=device)
                    sim[rows[:, None] == cols[None, :]] = -2.0
                top = sim.topk(min(k, len(ref)), dim=1)
                best_sim.append(top.values)
                best_idx.append(top.indices + ref_start)
            sims, idx = torch.cat(best_sim, 1), torch.cat(best_idx, 1)
            candidates = idx.gather(1, sims.topk(min(k, sims.shape[1]), dim=1).indices)
            # the coarse search finds candidates; an every-pixel aligned, finer match decides
            distance = 1.0 - _rescore(batch, fine_references[candidates], flips)
            keep = distance <= threshold
            if other is None:  # a lone image's only candidate is itself
                keep &= candidates != rows[:, None]
            found_i.append(rows[:, None].expand_as(keep)[keep].cpu())
            found_j.append(candidates[keep].cpu())
            found_d.append(distance[keep].cpu())
    flat = _flat_pairs(images, other, threshold=threshold, per_image=per_image,
                       device=device, block=block)
    i = np.concatenate([torch.cat(found_i).numpy(), flat[0]]).astype(np.int64)
    j = np.concatenate([torch.cat(found_j).numpy(), flat[1]]).astype(np.int64)
    d = np.concatenate([torch.cat(found_d).numpy(), flat[2]]).astype(np.float32).clip(0, None)
    if other is None:  # (i, j) and (j, i) are the same pair
        i, j = np.minimum(i, j), np.maximum(i, j)
    order = np.lexsort((d, j, i))  # a pair found twice (both ways, or flat) keeps its best
    i, j, d = i[order], j[order], d[order]
    first = np.ones(len(i), bool)
    first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
    i, j, d = i[first], j[first], d[first]
    order = np.argsort(d, kind="stable")[:max_pairs]
    return DuplicatePairs(i[order], j[order], d[order])


def duplicate_groups(pairs: DuplicatePairs, n: int) -> np.ndarray:
    """Connected components of a within-set pair list: int64 (n,) group id per image."""
    parent = np.arange(n)

    def root(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in zip(pairs.i, pairs.j):
        parent[root(a)] = root(b)
    return np.array([root(a) for a in range(n)], dtype=np.int64)
