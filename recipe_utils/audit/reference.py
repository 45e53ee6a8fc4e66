"""Published CIFAR-10 audit tables: ciFAIR duplicates and crowd-validated label errors.

Looked for in `$RECIPE_REFERENCE_DIR`, else `reference/` beside the offline bundle
(`$RECIPE_CIFAR10_OFFLINE`), else `<data dir>/reference`. When none has them,
`load_reference` downloads them (about 920 KB) from the ciFAIR (CC0) and
cleanlab/label-errors (Apache-2.0) repositories at pinned commits into
`<data dir>/reference`, each checked against its sha256, so no variable is needed.
Indices are original CIFAR-10 test indices.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from ..cifar import OFFLINE_ENV, default_data_dir
from ..download import DownloadError, download_url

REFERENCE_ENV = "RECIPE_REFERENCE_DIR"
FILES = {
    "test_train": "cifair10_duplicates_test_train.csv",
    "test_test": "cifair10_duplicates_test_test.csv",
    "mturk": "labelerrors_cifar10_mturk.json",
    "pyx": "labelerrors_cifar10_test_pyx.npy",
    "labels": "labelerrors_cifar10_test_labels.npy",
}


# raw files at pinned commits (a moved branch cannot change them), with their sha256
_CIFAIR = "https://raw.githubusercontent.com/cvjena/cifair/438ab96be904963f77d07a59f82d2b35e6ab5e6e/meta/"
_CLEANLAB = "https://raw.githubusercontent.com/cleanlab/label-errors/"
SOURCES = {
    "test_train": (_CIFAIR + "duplicates_cifar10.csv",
                   "4cb7e99a7dfff346082c9d8fa4c2989a196e4a37d1e58f75936046696f1ba6a4"),
    "test_test": (_CIFAIR + "duplicates_cifar10_test.csv",
                  "ef7b33e2f32d056cdb342046b437ee819541a07cb3bb0520a3ada9b9c035f532"),
    "mturk": (_CLEANLAB + "5457895eee26e49187de5c4d6617b9de6f172221/mturk/cifar10_mturk.json",
              "81b2c16c9eee060d6cc2390f6bbce1e0e7be0a050574be5177c9428f3596b5b5"),
    "pyx": (_CLEANLAB + "b1e4a9a46883dfd10c4c8cb09a741c671d05f95e/"
            "cross_validated_predicted_probabilities/cifar10_test_set_pyx.npy",
            "c445b25cee680e3919b4bd81d230a5c7c2179ed556609d84e000ee046bb44b49"),
    "labels": (_CLEANLAB + "e3ea63914629b0481d0d58c301110cb6c043cc69/"
               "original_test_labels/cifar10_test_set_original_labels.npy",
               "8fba587d5b11011df52b2a20eb4a272eeaf20c2d162554059f714d4b78d23aed"),
}


@dataclasses.dataclass(frozen=True)
class Reference:
    test_train: dict[str, np.ndarray]  # test_id, train_id, distance, judgment (286 rows)
    test_test: dict[str, np.ndarray]  # the same columns for 39 pairs inside the test set
    label_error_candidates: np.ndarray  # 275 test ids sent to the crowd
    label_errors: np.ndarray  # test ids where fewer than 3 of 5 workers chose the given label
    pred_probs: np.ndarray  # float (10000, 10), cross-validated, from the paper
    test_labels: np.ndarray  # int64 (10000,)


def reference_dir() -> Path | None:
    """The first candidate folder that holds all reference files, or None."""
    candidates = []
    if os.environ.get(REFERENCE_ENV):
        candidates.append(Path(os.environ[REFERENCE_ENV]).expanduser())
    if os.environ.get(OFFLINE_ENV):
        candidates.append(Path(os.environ[OFFLINE_ENV]).expanduser().resolve().parent / "reference")
    candidates.append(default_data_dir() / "reference")
    for folder in candidates:
        if all((folder / name).is_file() for name in FILES.values()):
            return folder
    return None


def fetch_reference(folder: str | Path | None = None, *, progress: bool = False,
                    retries: int = 2) -> Path:
    """Download the published tables into `folder` (default `<data dir>/reference`).

    Each file is checked against its pinned sha256; files already there and intact are
    kept. Returns the folder; raises `DownloadError` (saying what to copy where) offline.
    """
    from ..download import sha256sum

    folder = Path(folder) if folder is not None else default_data_dir() / "reference"
    for key, (url, digest) in SOURCES.items():
        dest = folder / FILES[key]
        if dest.is_file() and sha256sum(dest) == digest:
            continue
        download_url(url, dest, md5=None, sha256=digest, retries=retries, retry_wait=1.0,
                     progress=progress)
    return folder


def _read_pairs(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {"test_id": np.array([int(r["TestID"]) for r in rows]),
            "train_id": np.array([int(r["TrainID"]) for r in rows]),
            "distance": np.array([float(r["Distance"]) for r in rows]),
            "judgment": np.array([int(r["Judgment"]) for r in rows])}


def load_reference(folder: str | Path | None = None, *, download: bool = True) -> Reference | None:
    """The published tables, fetched once if needed; None (with a printed hint) if unavailable."""
    folder = Path(folder) if folder is not None else reference_dir()
    if folder is None and download:
        try:
            folder = fetch_reference()
        except (DownloadError, OSError) as e:
            print(f"Could not download the reference tables: {e}")
    if folder is None:
        print(f"Reference tables not found (set ${REFERENCE_ENV} to a folder holding "
              f"{', '.join(FILES.values())}, or run recipe_utils.audit.fetch_reference() "
              "with internet); skipping the comparison.")
        return None
    with open(folder / FILES["mturk"]) as f:
        mturk = json.load(f)
    return Reference(
        test_train=_read_pairs(folder / FILES["test_train"]),
        test_test=_read_pairs(folder / FILES["test_test"]),
        label_error_candidates=np.array([e["id"] for e in mturk]),
        label_errors=np.array([e["id"] for e in mturk if e["mturk"]["given"] < 3]),
        pred_probs=np.load(folder / FILES["pyx"]),
        test_labels=np.load(folder / FILES["labels"]).astype(np.int64),
    )
