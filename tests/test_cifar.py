"""The torchvision-format reader, the download path and the offline bundle."""

import numpy as np
import pytest
from conftest import make_images, write_bundle

from recipe_utils import cifar
from recipe_utils.cifar import DataError, load_cifar10, load_offline_bundle
from recipe_utils.download import DownloadError, download_url, md5sum


def test_reads_torchvision_folder_with_checksums(fake_cifar):
    root, md5s, (train_x, train_y, test_x, test_y) = fake_cifar
    data = load_cifar10(root, offline=None, download=False, file_md5s=md5s)
    np.testing.assert_array_equal(data.train_images, train_x)
    np.testing.assert_array_equal(data.train_labels, train_y)
    np.testing.assert_array_equal(data.test_images, test_x)
    np.testing.assert_array_equal(data.test_labels, test_y)
    assert data.train_images.dtype == np.uint8 and data.train_labels.dtype == np.int64
    assert data.classes == cifar.CLASSES and data.verified


def test_real_checksums_reject_fake_files(fake_cifar, monkeypatch):
    monkeypatch.delenv(cifar.OFFLINE_ENV, raising=False)
    root, _, _ = fake_cifar
    with pytest.raises(DataError, match="data_batch_1 is corrupt or incomplete"):
        load_cifar10(root, download=False)  # the published md5s do not match generated data


def test_md5_mismatch_after_edit(fake_cifar):
    root, md5s, _ = fake_cifar
    path = root / cifar.BATCH_FOLDER / "data_batch_3"
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(DataError, match="data_batch_3 is corrupt"):
        load_cifar10(root, offline=None, download=False, file_md5s=md5s)


def test_truncated_file_without_checksums_is_a_clear_error(fake_cifar):
    root, _, _ = fake_cifar
    path = root / cifar.BATCH_FOLDER / "test_batch"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="not a readable CIFAR batch"):
        load_cifar10(root, offline=None, download=False, file_md5s=None)


def test_missing_folder_without_download(tmp_path):
    with pytest.raises(DataError, match="does not exist.*download=True"):
        load_cifar10(tmp_path, offline=None, download=False)


def test_missing_file(fake_cifar):
    root, md5s, _ = fake_cifar
    (root / cifar.BATCH_FOLDER / "data_batch_5").unlink()
    with pytest.raises(DataError, match="data_batch_5 is missing"):
        load_cifar10(root, offline=None, download=False, file_md5s=md5s)


def test_download_extract_and_load(fake_archive, serve, tmp_path):
    blob, md5, md5s, (train_x, *_ ) = fake_archive
    server = serve(blob)
    data = load_cifar10(tmp_path / "fresh", offline=None, url=server.url, archive_md5=md5,
                        file_md5s=md5s, progress=False)
    np.testing.assert_array_equal(data.train_images, train_x)
    assert (tmp_path / "fresh" / cifar.ARCHIVE_NAME).is_file()


def test_corrupt_extracted_file_is_repaired_from_archive(fake_archive, serve, tmp_path):
    blob, md5, md5s, _ = fake_archive
    server = serve(blob)
    root = tmp_path / "fresh"
    load_cifar10(root, offline=None, url=server.url, archive_md5=md5, file_md5s=md5s, progress=False)
    (root / cifar.BATCH_FOLDER / "data_batch_2").write_bytes(b"garbage")
    data = load_cifar10(root, offline=None, url=server.url, archive_md5=md5, file_md5s=md5s,
                        progress=False)
    assert len(server.requests) == 1  # re-extracted from the verified archive, not re-downloaded
    assert data.verified


def test_interrupted_download_resumes(fake_archive, serve, tmp_path):
    blob, md5, _, _ = fake_archive
    server = serve(blob)
    server.cut_after = len(blob) // 3
    dest = download_url(server.url, tmp_path / "a.tar.gz", md5=md5, retry_wait=0, progress=False)
    assert md5sum(dest) == md5
    assert server.requests == [None, f"bytes={len(blob) // 3}-"]  # second request resumed


def test_corrupt_download_is_retried(fake_archive, serve, tmp_path):
    blob, md5, _, _ = fake_archive
    server = serve(blob)
    server.corrupt_times = 1
    dest = download_url(server.url, tmp_path / "a.tar.gz", md5=md5, retry_wait=0, progress=False)
    assert md5sum(dest) == md5 and len(server.requests) == 2
    assert not (tmp_path / "a.tar.gz.part").exists()


def test_always_corrupt_download_gives_up_clearly(fake_archive, serve, tmp_path):
    blob, md5, _, _ = fake_archive
    server = serve(blob)
    server.corrupt_times = 99
    with pytest.raises(DownloadError, match="after 2 attempts.*checksum mismatch"):
        download_url(server.url, tmp_path / "a.tar.gz", md5=md5, retries=2, retry_wait=0,
                     progress=False)


def test_no_network_is_a_clear_error(tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr("recipe_utils.download.time.sleep", lambda s: None)
    with socket.socket() as s:  # a port nobody listens on: connection refused, like offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=r"Could not download.*after 4 attempts.*Connection refused.*Set \$RECIPE_CIFAR10_OFFLINE"):
        cifar._download_and_extract(tmp_path, url=f"http://127.0.0.1:{port}/x.tar.gz",
                                    md5="0" * 32, progress=False)


def test_offline_bundle_roundtrip_and_cache(tmp_path):
    train = make_images(30, seed=3)
    test = make_images(10, seed=4)
    bundle = write_bundle(tmp_path / "b.npz", train, test)
    data = load_offline_bundle(bundle, cache_dir=tmp_path / "cache")
    assert data.train_images.shape == (30, 32, 32, 3) and data.test_images.shape == (10, 32, 32, 3)
    np.testing.assert_array_equal(data.train_labels, train[1])
    # JPEG is lossy (chroma subsampling blurs colour edges) but the images are the same
    error = np.abs(data.train_images.astype(int) - train[0]).mean()
    assert error < 12 and np.corrcoef(data.train_images.ravel(), train[0].ravel())[0, 1] > 0.95
    assert not data.verified  # not the published bundle
    (cached,) = (tmp_path / "cache").glob("cifar10_offline_*")
    again = load_cifar10(tmp_path / "cache", offline=bundle)
    np.testing.assert_array_equal(again.train_images, data.train_images)
    assert cached.exists()


def test_offline_env_variable_is_used(tmp_path, monkeypatch):
    bundle = write_bundle(tmp_path / "b.npz", make_images(10, 5), make_images(10, 6))
    monkeypatch.setenv(cifar.OFFLINE_ENV, str(bundle))
    assert "offline bundle" in load_cifar10(tmp_path / "cache").source


def test_decoded_bundle_is_used_once_the_variable_is_gone(tmp_path, monkeypatch):
    bundle = write_bundle(tmp_path / "b.npz", make_images(10, 5), make_images(10, 6))
    monkeypatch.setenv(cifar.OFFLINE_ENV, str(bundle))
    first = load_cifar10(tmp_path / "cache")
    monkeypatch.delenv(cifar.OFFLINE_ENV)
    bundle.unlink()  # neither the variable nor the bundle: the decoded cache is enough
    again = load_cifar10(tmp_path / "cache", download=False)
    assert again.source.startswith("decoded offline bundle") and not again.verified
    np.testing.assert_array_equal(again.test_images, first.test_images)
    with pytest.raises(DataError, match="download=True"):  # no cache: the usual error
        load_cifar10(tmp_path / "empty", download=False)


def test_offline_bundle_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_offline_bundle(tmp_path / "nope.npz")
    np.savez(tmp_path / "bad.npz", train_jpeg=np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="lacks the arrays"):
        load_offline_bundle(tmp_path / "bad.npz", cache_dir=tmp_path)
    bundle = write_bundle(tmp_path / "b.npz", make_images(10, 5), make_images(10, 6))
    arrays = dict(np.load(bundle))
    arrays["train_offsets"] = arrays["train_offsets"][::-1]
    np.savez(tmp_path / "shuffled.npz", **arrays)
    with pytest.raises(DataError, match="corrupt"):
        load_offline_bundle(tmp_path / "shuffled.npz", cache_dir=tmp_path)
