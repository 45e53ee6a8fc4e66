"""CIFAR-10 from disk: the torchvision-format download, or an offline JPEG bundle.

Two sources, one result (`CIFAR10`: uint8 images (N, 32, 32, 3), int64 labels):

- the official `cifar-10-python.tar.gz`, fetched from torchvision's URL with its md5,
  extracted to `<root>/cifar-10-batches-py/` and every file md5-checked on load;
- an offline bundle (`$RECIPE_CIFAR10_OFFLINE`, see `datasets/README.md`): JPEG bytes
  in one `.npz`, decoded once and cached as `.npy` under the data root.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tarfile
import warnings
from pathlib import Path

import numpy as np
from torchvision.datasets import CIFAR10 as _TorchvisionCIFAR10

from .bundle import find_cache, load_bundle
from .dataset import (  # noqa: F401  (public here: cifar is where a reader looks for them)
    CIFAR10,
    CLASSES,
    DATA_DIR_ENV,
    OFFLINE_BUNDLE_SHA256,
    OFFLINE_ENV,
    DataError,
)
from .download import DownloadError, download_url, md5sum

# torchvision is the single source of truth for the official URL and checksums
CIFAR10_URL = _TorchvisionCIFAR10.url
ARCHIVE_NAME = _TorchvisionCIFAR10.filename
ARCHIVE_MD5 = _TorchvisionCIFAR10.tgz_md5
BATCH_FOLDER = _TorchvisionCIFAR10.base_folder
FILE_MD5S = dict(
    _TorchvisionCIFAR10.train_list
    + _TorchvisionCIFAR10.test_list
    + [[_TorchvisionCIFAR10.meta["filename"], _TorchvisionCIFAR10.meta["md5"]]]
)
TRAIN_FILES = tuple(name for name, _ in _TorchvisionCIFAR10.train_list)
TEST_FILES = tuple(name for name, _ in _TorchvisionCIFAR10.test_list)




def default_data_dir() -> Path:
    """`$RECIPE_DATA_DIR`, else the repo's `datasets/`, else `~/.cache/nn-recipe`."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    repo_datasets = Path(__file__).resolve().parents[1] / "datasets"
    if (repo_datasets / "README.md").exists():
        return repo_datasets
    return Path.home() / ".cache" / "nn-recipe"


def load_cifar10(
    root: str | Path | None = None,
    *,
    offline: str | Path | None = None,
    download: bool = True,
    url: str = CIFAR10_URL,
    archive_md5: str | None = ARCHIVE_MD5,
    file_md5s: dict[str, str] | None = FILE_MD5S,
    progress: bool = True,
) -> CIFAR10:
    """Load CIFAR-10 from the offline bundle if one is named, else the torchvision format.

    `offline` (or `$RECIPE_CIFAR10_OFFLINE`) names a bundle; otherwise the batches are
    read from `<root>/cifar-10-batches-py`, downloaded from `url` when missing or corrupt
    (if `download`); when that folder does not exist but a bundle was decoded under
    `root` before, that cache is used. `file_md5s=None` skips the per-file checks.
    """
    root = Path(root) if root is not None else default_data_dir()
    offline = offline or os.environ.get(OFFLINE_ENV) or None
    if offline:
        return load_offline_bundle(offline, cache_dir=root)
    folder = root / BATCH_FOLDER
    problem = _check_folder(folder, file_md5s)
    if problem and not folder.exists():
        cached = find_cache(root)  # a bundle decoded in an earlier session
        if cached is not None:
            return cached
    if problem:
        if not download:
            raise DataError(
                f"CIFAR-10 is not usable at {folder}: {problem}. Call with download=True "
                f"(or run `python datasets/fetch.py`), or set ${OFFLINE_ENV} to an offline bundle."
            )
        _download_and_extract(root, url=url, md5=archive_md5, progress=progress)
        problem = _check_folder(folder, file_md5s)
        if problem:
            raise DataError(f"Freshly extracted {ARCHIVE_NAME} is still not usable: {problem}.")
    return read_cifar10_folder(folder, verified=file_md5s is not None)


def _check_folder(folder: Path, file_md5s: dict[str, str] | None) -> str | None:
    """Why `folder` is not a complete, intact CIFAR-10 batch folder, or None if it is."""
    if not folder.is_dir():
        return "the folder does not exist"
    for name in TRAIN_FILES + TEST_FILES:
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if file_md5s and md5sum(path) != file_md5s[name]:
            return f"{name} is corrupt or incomplete (md5 does not match {file_md5s[name]})"
    meta = folder / "batches.meta"  # optional, but when there it names the classes
    if file_md5s and "batches.meta" in file_md5s and meta.is_file() \
            and md5sum(meta) != file_md5s["batches.meta"]:
        return f"batches.meta is corrupt or not CIFAR-10's (md5 does not match " \
               f"{file_md5s['batches.meta']})"
    return None


def _move_aside(path: Path, actual_md5: str) -> Path:
    """Keep a file that failed its check next to where it was, under a name saying why."""
    aside = path.with_name(f"{path.name}.md5-{actual_md5[:12]}")
    os.replace(path, aside)
    return aside


def _download_and_extract(root: Path, *, url: str, md5: str | None, progress: bool) -> None:
    archive = root / ARCHIVE_NAME
    found = ""
    if archive.is_file() and md5 is not None and (actual := md5sum(archive)) != md5:
        # a copied-in archive is the user's: moved aside, never deleted
        aside = _move_aside(archive, actual)
        found = (f" The {archive} already there had md5 {actual}, not the published {md5} "
                 f"(an incomplete or different file); it was moved to {aside}.")
        warnings.warn(f"{found.strip()} Downloading a fresh copy.", stacklevel=3)
    if not archive.is_file():
        try:
            download_url(url, archive, md5=md5, progress=progress)
        except DownloadError as e:
            raise DownloadError(
                f"{e}{found} Offline? Set ${OFFLINE_ENV} to the offline bundle "
                f"(cifar10_jpeg.npz), or copy a complete {ARCHIVE_NAME} (md5 {md5}) to {archive}."
            ) from e
    shutil.rmtree(root / BATCH_FOLDER, ignore_errors=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            if hasattr(tarfile, "data_filter"):  # refuses absolute paths and links out
                tar.extractall(root, filter="data")
            else:
                tar.extractall(root)
    except (tarfile.TarError, EOFError, OSError) as e:
        aside = _move_aside(archive, md5sum(archive))
        raise DataError(f"{archive} could not be extracted ({e}); moved it to {aside}. Run "
                        f"again to download a fresh copy, or copy a complete {ARCHIVE_NAME} "
                        f"to {archive}.") from e


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        data = np.asarray(entry["data"])
        labels = np.asarray(entry["labels"])
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path} is not a readable CIFAR batch ({type(e).__name__}: {e}); "
                        "delete the folder and download again.") from e
    # unchecked copies (file_md5s=None) get here too: a cast would hide bad values
    if data.dtype != np.uint8 and not (data.dtype.kind in "iu" and data.size
                                       and 0 <= data.min() and data.max() <= 255):
        span = f" in [{data.min()}, {data.max()}]" if data.size and data.dtype.kind in "iuf" else ""
        raise DataError(f"{path} holds {data.dtype} data{span}; CIFAR batches hold uint8 "
                        "pixels 0..255 (floats in [0, 1]? save (x * 255).round() as uint8).")
    if labels.dtype.kind not in "iu" or (labels.size and not 0 <= labels.min() <= labels.max()
                                         < len(CLASSES)):
        raise DataError(f"{path} holds labels that are not class indices 0..{len(CLASSES) - 1} "
                        f"({labels.dtype}, from {labels.min()} to {labels.max()}); fix the file.")
    data, labels = data.astype(np.uint8), labels.astype(np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise DataError(f"{path} holds data of shape {data.shape} with {len(labels)} labels; "
                        "expected (n, 3072) and n labels.")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def read_cifar10_folder(folder: str | Path, *, verified: bool = False) -> CIFAR10:
    """Read a torchvision-format `cifar-10-batches-py` folder (no checksum checks here)."""
    folder = Path(folder)
    train = [_read_batch(folder / name) for name in TRAIN_FILES]
    test_images, test_labels = _read_batch(folder / TEST_FILES[0])
    classes = CLASSES
    meta = folder / "batches.meta"
    if meta.is_file():
        try:
            with open(meta, "rb") as f:
                classes = tuple(str(c) for c in pickle.load(f, encoding="latin1")["label_names"])
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
            raise DataError(f"{meta} is not a readable CIFAR meta file ({type(e).__name__}: "
                            f"{e}); delete it (the standard class names are used) or download "
                            "again.") from e
        if len(classes) != len(CLASSES):
            raise DataError(f"{meta} names {len(classes)} classes, not {len(CLASSES)}; delete "
                            "it (the standard class names are used) or download again.")
    return CIFAR10(
        train_images=np.concatenate([x for x, _ in train]),
        train_labels=np.concatenate([y for _, y in train]),
        test_images=test_images, test_labels=test_labels, classes=classes,
        source=str(folder), verified=verified,
    )


def load_offline_bundle(path: str | Path, *, cache_dir: str | Path | None = None) -> CIFAR10:
    """Decode an offline `.npz` bundle (format: datasets/README.md), cached as `.npy`.

    The cache lives in `<cache_dir>/cifar10_offline_<sha256 prefix>/` so a changed
    bundle is never served from a stale cache; a damaged cache is rebuilt.
    """
    return load_bundle(path, cache_dir=Path(cache_dir or default_data_dir()))
