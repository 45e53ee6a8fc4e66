"""The offline bundle: JPEG bytes in one `.npz` (datasets/README.md), decoded once and
cached as `.npy`. A truncated or foreign bundle is named with what to do; a damaged
cache is rebuilt from the bundle.
"""

from __future__ import annotations

import io
import shutil
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .dataset import CIFAR10, OFFLINE_BUNDLE_SHA256, OFFLINE_ENV, DataError
from .download import sha256sum

NAMES = ("train_images", "train_labels", "test_images", "test_labels")
# what a truncated or damaged zip member raises while numpy reads it
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)


def load_bundle(path: str | Path, *, cache_dir: Path) -> CIFAR10:
    """Decode the bundle at `path` (or read its cache under `cache_dir`)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"The offline bundle {path} does not exist (resolved from {Path.cwd()}: "
                        f"{path.resolve()}; from ${OFFLINE_ENV} or offline=). Point it at "
                        "cifar10_jpeg.npz with an absolute path, or unset it to download.")
    digest = sha256sum(path)
    cache = cache_dir / f"cifar10_offline_{digest[:12]}"
    loaded = _read_cache(cache) if cache.is_dir() else None
    if loaded is None:  # decoded and checked: used as is, not read back from the new cache
        arrays = _decode_bundle(path, digest)
        _write_cache(cache, arrays)
        loaded = arrays, tuple(arrays.pop("classes"))
    arrays, classes = loaded
    return CIFAR10(**arrays, classes=classes, source=f"offline bundle {path}",
                   verified=digest == OFFLINE_BUNDLE_SHA256)


def find_cache(cache_dir: str | Path) -> CIFAR10 | None:
    """A bundle decoded earlier under `cache_dir` (the course's copy preferred), or None.

    Lets a later session load the data without the bundle or its environment variable.
    """
    caches = [p for p in Path(cache_dir).glob("cifar10_offline_*")
              if p.is_dir() and not p.name.endswith(".tmp")]  # .tmp: an unfinished write
    caches.sort(key=lambda p: (p.name != f"cifar10_offline_{OFFLINE_BUNDLE_SHA256[:12]}",
                               -p.stat().st_mtime))
    for cache in caches:
        loaded = _read_cache(cache)
        if loaded is not None:
            arrays, classes = loaded
            return CIFAR10(**arrays, classes=classes, source=f"decoded offline bundle {cache}",
                           verified=cache.name.endswith(OFFLINE_BUNDLE_SHA256[:12]))
    return None


def _write_cache(cache: Path, arrays: dict) -> None:
    tmp = cache.with_name(cache.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for n in NAMES:
        np.save(tmp / f"{n}.npy", arrays[n])
    (tmp / "classes.txt").write_text("\n".join(arrays["classes"]))
    shutil.rmtree(cache, ignore_errors=True)
    tmp.rename(cache)


def _read_cache(cache: Path) -> tuple[dict, tuple[str, ...]] | None:
    """The cached arrays, or None (after a warning, the cache removed) if any is damaged:
    the cache is ours, derived from the bundle, so it is rebuilt rather than trusted."""
    try:
        arrays = {n: np.load(cache / f"{n}.npy", allow_pickle=False) for n in NAMES}
        classes = tuple((cache / "classes.txt").read_text().split("\n"))
        problem = _cache_problem(arrays, classes)
    except _READ_ERRORS as e:
        problem = f"{type(e).__name__}: {e}"
    if problem is None:
        return arrays, classes
    warnings.warn(f"The decoded cache {cache} is damaged ({problem[:160]}); rebuilding it "
                  "from the bundle.", stacklevel=4)
    shutil.rmtree(cache, ignore_errors=True)
    return None


def _cache_problem(arrays: dict, classes: tuple) -> str | None:
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.dtype != np.uint8 or images.shape[1:] != (32, 32, 3):
            return f"{split}_images is {images.dtype} {images.shape}"
        if labels.dtype != np.int64 or labels.shape != (len(images),):
            return f"{split}_labels is {labels.dtype} {labels.shape} for {len(images)} images"
        if len(labels) and not 0 <= labels.min() <= labels.max() < len(classes):
            return f"{split}_labels fall outside 0..{len(classes) - 1}"
    return None


def _decode_jpegs(blob: np.ndarray, offsets: np.ndarray, what: str) -> np.ndarray:
    from PIL import Image

    images = []
    for i in range(len(offsets) - 1):
        data = blob[offsets[i]:offsets[i + 1]].tobytes()
        try:
            image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        except Exception as e:
            raise DataError(f"{what} image {i} is not a decodable JPEG ({e}).") from e
        if image.shape != (32, 32, 3):
            raise DataError(f"{what} image {i} has shape {image.shape}, expected (32, 32, 3).")
        images.append(image)
    return np.stack(images) if images else np.zeros((0, 32, 32, 3), np.uint8)


def _damaged(path: Path, digest: str, e: BaseException) -> DataError:
    course = (f" The course's copy has sha256 {OFFLINE_BUNDLE_SHA256}; this file's is "
              f"{digest}." if digest != OFFLINE_BUNDLE_SHA256 else "")
    return DataError(f"{path} is not a readable .npz bundle ({type(e).__name__}: "
                     f"{str(e)[:120]}): truncated (an interrupted copy?) or not a bundle. Copy "
                     f"cifar10_jpeg.npz again.{course}")


def _decode_bundle(path: Path, digest: str) -> dict:
    required = ("train_jpeg", "train_offsets", "train_labels",
                "test_jpeg", "test_offsets", "test_labels", "classes")
    try:
        npz = np.load(path, allow_pickle=False)
    except _READ_ERRORS as e:
        raise _damaged(path, digest, e) from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataError(f"{path} holds a single {npz.dtype} array of shape {npz.shape} (a .npy "
                        "file), not an .npz bundle of the arrays in datasets/README.md. Point "
                        f"${OFFLINE_ENV} at cifar10_jpeg.npz.")
    with npz:
        missing = [k for k in required if k not in npz.files]
        if missing:
            raise DataError(f"{path} lacks the arrays {missing}; see datasets/README.md.")
        try:
            return _decode_arrays(npz, path)
        except _READ_ERRORS as e:
            raise _damaged(path, digest, e) from e


def _decode_arrays(npz, path: Path) -> dict:
    out = {"classes": [str(c) for c in npz["classes"]]}
    for split in ("train", "test"):
        offsets, labels = npz[f"{split}_offsets"].astype(np.int64), npz[f"{split}_labels"]
        blob = npz[f"{split}_jpeg"]
        if len(offsets) != len(labels) + 1 or np.any(np.diff(offsets) <= 0) \
                or offsets[0] != 0 or offsets[-1] != len(blob):
            raise DataError(f"{path}: {split}_offsets do not delimit {len(labels)} "
                            "images in the JPEG blob; the bundle is corrupt.")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(out["classes"])):
            raise DataError(f"{path}: {split}_labels fall outside 0..{len(out['classes']) - 1}.")
        out[f"{split}_images"] = _decode_jpegs(blob, offsets, f"{path.name} {split}")
        out[f"{split}_labels"] = labels.astype(np.int64)
    return out
