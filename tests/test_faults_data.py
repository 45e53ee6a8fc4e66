"""Bad inputs to `load_cifar10`: a wrong archive, truncated bundles and caches, a `.npy`
for a bundle, a foreign batches.meta, float pixels and out-of-range labels. Each is
named with what to do; a user's file is never deleted; our own cache is rebuilt."""

import hashlib
import pickle
import socket
import warnings

import numpy as np
import pytest
from conftest import make_images, write_batch, write_bundle

from recipe_utils import cifar
from recipe_utils.cifar import DataError, load_cifar10, load_offline_bundle
from recipe_utils.download import DownloadError


def refused_port() -> int:
    with socket.socket() as s:  # nobody listens there: connection refused, as offline
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_copied_archive_with_a_wrong_md5_is_moved_aside_and_named(tmp_path, monkeypatch):
    monkeypatch.setattr("recipe_utils.download.time.sleep", lambda s: None)
    archive = tmp_path / cifar.ARCHIVE_NAME
    archive.write_bytes(b"half of a copied archive")
    actual = hashlib.md5(archive.read_bytes()).hexdigest()
    with pytest.warns(UserWarning, match=f"md5 {actual}, not the published"), \
            pytest.raises(DownloadError) as caught:
        load_cifar10(tmp_path, url=f"http://127.0.0.1:{refused_port()}/x.tar.gz",
                     progress=False)
    aside = tmp_path / f"{cifar.ARCHIVE_NAME}.md5-{actual[:12]}"
    message = str(caught.value)
    assert aside.read_bytes() == b"half of a copied archive"  # kept, not deleted
    assert f"had md5 {actual}, not the published {cifar.ARCHIVE_MD5}" in message
    assert f"moved to {aside}" in message and f"(md5 {cifar.ARCHIVE_MD5}) to {archive}" in message


def test_an_archive_that_does_not_extract_is_moved_aside(tmp_path):
    archive = tmp_path / cifar.ARCHIVE_NAME
    archive.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"could not be extracted.*moved it to .*\.md5-"):
        cifar._download_and_extract(tmp_path, url="http://unused", md5=None, progress=False)
    assert [p.read_bytes() for p in tmp_path.glob("*.md5-*")] == [b"not gzip at all"]


@pytest.fixture
def bundle(tmp_path):
    return write_bundle(tmp_path / "b.npz", make_images(10, 5), make_images(10, 6))


def test_a_truncated_bundle_is_named_with_what_to_do(tmp_path, bundle):
    for cut in (100, len(bundle.read_bytes()) // 2, len(bundle.read_bytes()) - 30):
        short = tmp_path / f"short{cut}.npz"
        short.write_bytes(bundle.read_bytes()[:cut])
        with pytest.raises(DataError, match=f"{short} is not a readable .npz bundle .*"
                           "truncated .an interrupted copy.*Copy cifar10_jpeg.npz again.*sha256"):
            load_offline_bundle(short, cache_dir=tmp_path / "cache")


def test_a_npy_named_as_the_bundle_says_so(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 4)))
    (tmp_path / "x.npy").rename(tmp_path / "cifar10_jpeg.npz")
    with pytest.raises(DataError, match=r"single float64 array of shape \(3, 4\) \(a .npy"):
        load_offline_bundle(tmp_path / "cifar10_jpeg.npz", cache_dir=tmp_path / "cache")


def test_a_truncated_decoded_cache_is_rebuilt(tmp_path, bundle):
    first = load_offline_bundle(bundle, cache_dir=tmp_path / "cache")
    (cache,) = (tmp_path / "cache").glob("cifar10_offline_*")
    images = cache / "train_images.npy"
    images.write_bytes(images.read_bytes()[:500])  # a full disk or a killed copy
    with pytest.warns(UserWarning, match=f"{cache} is damaged.*rebuilding"):
        again = load_offline_bundle(bundle, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.train_images, first.train_images)
    (cache / "test_labels.npy").unlink()
    with pytest.warns(UserWarning, match="FileNotFoundError"):
        load_offline_bundle(bundle, cache_dir=tmp_path / "cache")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # whole again: read without a warning
        load_offline_bundle(bundle, cache_dir=tmp_path / "cache")


def test_a_wrong_batches_meta_fails_its_checksum(fake_cifar):
    root, md5s, _ = fake_cifar
    with open(root / cifar.BATCH_FOLDER / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["cat", "dog"] + ["x"] * 8}, f)
    with pytest.raises(DataError, match="batches.meta is corrupt or not CIFAR-10's"):
        load_cifar10(root, offline=None, download=False, file_md5s=md5s)
    with open(root / cifar.BATCH_FOLDER / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["cat", "dog"]}, f)
    with pytest.raises(DataError, match="names 2 classes, not 10"):
        load_cifar10(root, offline=None, download=False, file_md5s=None)


def test_unchecked_copies_with_float_pixels_or_bad_labels_are_refused(fake_cifar):
    root, _, _ = fake_cifar
    path = root / cifar.BATCH_FOLDER / "data_batch_2"
    images, labels = make_images(20, seed=9)
    write_batch(path, images.astype(np.float32) / 255, labels)  # floats in [0, 1]
    with pytest.raises(DataError, match=r"data_batch_2 holds float32 data in \[0.0, 1.0\].*uint8"):
        load_cifar10(root, offline=None, download=False, file_md5s=None)
    write_batch(path, images, labels + 5)  # labels 5..14
    with pytest.raises(DataError, match=r"data_batch_2 holds labels that are not class "
                       r"indices 0..9 \(int64, from 5 to 14\)"):
        load_cifar10(root, offline=None, download=False, file_md5s=None)
    write_batch(path, images.astype(np.int64), labels)  # ints 0..255 are fine as they are
    data = load_cifar10(root, offline=None, download=False, file_md5s=None)
    np.testing.assert_array_equal(data.train_images[20:40], images)
