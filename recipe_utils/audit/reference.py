"""Published CIFAR-10 audit tables: ciFAIR duplicates and crowd-validated label errors.

Looked for in `$RECIPE_REFERENCE_DIR`, else `reference/` beside the offline bundle
(`$RECIPE_CIFAR10_OFFLINE`), else `<data dir>/reference`. On a machine with internet
the files can be fetched from the ciFAIR and cleanlab/label-errors repositories into
that folder (file names below). Indices are original CIFAR-10 test indices.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from ..cifar import OFFLINE_ENV, default_data_dir

REFERENCE_ENV = "RECIPE_REFERENCE_DIR"
FILES = {
    "test_train": "cifair10_duplicates_test_train.csv",
    "test_test": "cifair10_duplicates_test_test.csv",
    "mturk": "labelerrors_cifar10_mturk.json",
    "pyx": "labelerrors_cifar10_test_pyx.npy",
    "labels": "labelerrors_cifar10_test_labels.npy",
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


def _read_pairs(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {"test_id": np.array([int(r["TestID"]) for r in rows]),
            "train_id": np.array([int(r["TrainID"]) for r in rows]),
            "distance": np.array([float(r["Distance"]) for r in rows]),
            "judgment": np.array([int(r["Judgment"]) for r in rows])}


def load_reference(folder: str | Path | None = None) -> Reference | None:
    """The published tables, or None (with a printed hint) when they are not available."""
    folder = Path(folder) if folder is not None else reference_dir()
    if folder is None:
        print(f"Reference tables not found (set ${REFERENCE_ENV} to a folder holding "
              f"{', '.join(FILES.values())}); skipping the comparison.")
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
