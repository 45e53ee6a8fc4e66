"""The published reference tables load with no environment variable: fetched once, checked."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from recipe_utils.audit import reference
from recipe_utils.cifar import DATA_DIR_ENV, OFFLINE_ENV

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference"


def _publish(folder: Path) -> dict:
    """Small tables in the published formats under `folder`; {key: (file URL, sha256)}."""
    folder.mkdir()
    pairs = "TestID,TrainID,Distance,Judgment\n3,7,0.1,1\n5,9,0.2,2\n"
    mturk = [{"id": 3, "mturk": {"given": 1, "guessed": 4}}, {"id": 8, "mturk": {"given": 4}}]
    content = {"test_train": pairs.encode(), "test_test": pairs.encode(),
               "mturk": json.dumps(mturk).encode()}
    for key, array in (("pyx", np.full((10, 10), 0.1)), ("labels", np.arange(10) % 10)):
        np.save(folder / "tmp.npy", array)
        content[key] = (folder / "tmp.npy").read_bytes()
    sources = {}
    for key, data in content.items():
        (folder / key).write_bytes(data)
        sources[key] = ((folder / key).as_uri(), hashlib.sha256(data).hexdigest())
    return sources


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    for name in (reference.REFERENCE_ENV, OFFLINE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))  # an empty data folder
    return tmp_path


def test_loads_with_no_environment_variable(no_env, monkeypatch):
    monkeypatch.setattr(reference, "SOURCES", _publish(no_env / "upstream"))
    assert reference.reference_dir() is None  # nothing on disk yet
    ref = reference.load_reference()
    assert ref is not None and list(ref.label_errors) == [3]
    assert list(ref.test_train["test_id"]) == [3, 5] and ref.pred_probs.shape == (10, 10)
    assert reference.reference_dir() == no_env / "data" / "reference"  # kept for next time


def test_a_tampered_download_is_refused(no_env, monkeypatch, capsys):
    sources = _publish(no_env / "upstream")
    sources["mturk"] = (sources["mturk"][0], "0" * 64)
    monkeypatch.setattr(reference, "SOURCES", sources)
    assert reference.load_reference() is None
    out = capsys.readouterr().out
    assert "checksum mismatch" in out and "skipping the comparison" in out
    assert not (no_env / "data" / "reference" / reference.FILES["mturk"]).exists()


@pytest.mark.skipif(not SHARED.is_dir(), reason="the course's copy of the tables is not here")
def test_pinned_checksums_match_the_course_copy():
    for key, (_, digest) in reference.SOURCES.items():
        assert hashlib.sha256((SHARED / reference.FILES[key]).read_bytes()).hexdigest() == digest
