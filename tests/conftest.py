"""Fixtures that generate small CIFAR-format data: pickles, archives, offline bundles."""

from __future__ import annotations

import hashlib
import http.server
import io
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from recipe_utils import cifar


def make_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n smooth random uint8 images (N, 32, 32, 3) and labels cycling through 0..9."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (n, 4, 4, 3), dtype=np.uint8)
    images = coarse.repeat(8, axis=1).repeat(8, axis=2)  # blocky: survives JPEG well
    return images, (np.arange(n) % 10).astype(np.int64)


def write_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    with open(path, "wb") as f:
        pickle.dump({"batch_label": path.name, "labels": labels.tolist(), "data": data}, f)


@pytest.fixture
def fake_cifar(tmp_path):
    """A torchvision-format cifar-10-batches-py folder with 5x20 train and 20 test images.

    Returns (root, md5 dict of its files, the expected arrays).
    """
    root = tmp_path / "data"
    folder = root / cifar.BATCH_FOLDER
    folder.mkdir(parents=True)
    train_x, train_y = make_images(100, seed=1)
    test_x, test_y = make_images(20, seed=2)
    for k, name in enumerate(cifar.TRAIN_FILES):
        write_batch(folder / name, train_x[k * 20:(k + 1) * 20], train_y[k * 20:(k + 1) * 20])
    write_batch(folder / cifar.TEST_FILES[0], test_x, test_y)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(cifar.CLASSES)}, f)
    md5s = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    return root, md5s, (train_x, train_y, test_x, test_y)


@pytest.fixture
def fake_archive(fake_cifar, tmp_path):
    """(archive bytes, md5) of the fake folder packed like cifar-10-python.tar.gz."""
    root, md5s, expected = fake_cifar
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(root / cifar.BATCH_FOLDER, arcname=cifar.BATCH_FOLDER)
    blob = buffer.getvalue()
    return blob, hashlib.md5(blob).hexdigest(), md5s, expected


class _Server:
    """A loopback HTTP server for one payload, with Range support and planted faults."""

    def __init__(self, payload: bytes):
        self.payload = payload
        self.cut_after: int | None = None  # close the first response after this many bytes
        self.corrupt_times = 0  # serve flipped bytes this many times
        self.requests: list[str | None] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append(rng)
                body = server.payload
                if server.corrupt_times > 0:
                    server.corrupt_times -= 1
                    body = bytes(b ^ 0xFF for b in body)
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                chunk = body[start:]
                if server.cut_after is not None:
                    chunk, server.cut_after = chunk[:server.cut_after], None
                self.wfile.write(chunk)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cifar-10-python.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def serve():
    servers = []

    def start(payload: bytes) -> _Server:
        servers.append(_Server(payload))
        return servers[-1]

    yield start
    for s in servers:
        s.httpd.shutdown()
        s.httpd.server_close()


def write_bundle(path: Path, train: tuple, test: tuple, *, quality: int = 95) -> Path:
    """An offline bundle in the course format (JPEG bytes + offsets + labels)."""
    from PIL import Image

    arrays = {"classes": np.array(cifar.CLASSES)}
    for split, (images, labels) in (("train", train), ("test", test)):
        blobs = []
        for image in images:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
            blobs.append(np.frombuffer(buffer.getvalue(), np.uint8))
        arrays[f"{split}_jpeg"] = np.concatenate(blobs)
        arrays[f"{split}_offsets"] = np.concatenate([[0], np.cumsum([len(b) for b in blobs])])
        arrays[f"{split}_labels"] = labels.astype(np.uint8)
    np.savez(path, **arrays)
    return path


@pytest.fixture(autouse=True)
def _isolated_data_env(monkeypatch, tmp_path):
    """Unit tests never see the caller's offline bundle or data folder."""
    monkeypatch.delenv(cifar.OFFLINE_ENV, raising=False)
    monkeypatch.setenv(cifar.DATA_DIR_ENV, str(tmp_path / "data_dir"))
