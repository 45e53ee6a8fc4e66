"""Resumable, checksum-verified downloads (standard library only).

A partial file is kept as `<name>.part` and resumed with an HTTP Range request on the
next attempt; a finished file whose md5 does not match is deleted and fetched again.
"""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm


class DownloadError(RuntimeError):
    """The file could not be fetched, or never matched its checksum."""


def file_digest(path: str | Path, algorithm: str, *, chunk_size: int = 1 << 20) -> str:
    """Hex digest ("md5", "sha256", ...) of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def md5sum(path: str | Path) -> str:
    return file_digest(path, "md5")


def sha256sum(path: str | Path) -> str:
    return file_digest(path, "sha256")


def _fetch_into(url: str, part: Path, *, timeout: float, progress: bool) -> None:
    """Append the rest of `url` to `part`, resuming from its current size."""
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "nn-recipe"}
    if start:
        headers["Range"] = f"bytes={start}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # nothing left to fetch: the part is already whole
            return
        raise
    with response:
        if start and response.status != 206:  # server ignored Range: start over
            start = 0
        length = response.headers.get("Content-Length")
        total = int(length) + start if length is not None else None
        with open(part, "ab" if start else "wb") as f, tqdm(
            total=total, initial=start, unit="B", unit_scale=True,
            desc=part.name.removesuffix(".part"), disable=not progress,
        ) as bar:
            while block := response.read(1 << 16):
                f.write(block)
                bar.update(len(block))
        if total is not None and part.stat().st_size < total:
            raise http.client.IncompleteRead(b"", total - part.stat().st_size)


def download_url(
    url: str,
    dest: str | Path,
    *,
    md5: str | None,
    sha256: str | None = None,
    retries: int = 4,
    timeout: float = 60.0,
    retry_wait: float = 2.0,
    progress: bool = True,
    offline_hint: str = "or use an offline copy of the data (see datasets/README.md)",
) -> Path:
    """Download `url` to `dest`, resuming partial files and verifying `md5` (or `sha256`).

    `sha256` may be the leading hex digits of the digest only (8 or more), as in
    torch.hub's weights names (`resnet18-f37072fd.pth`). Returns `dest`. Raises
    `DownloadError` after `retries` failed attempts, saying why and what to do when the
    machine is offline (`offline_hint` ends that advice).
    """
    if sha256 is not None and len(sha256) < 8:
        raise ValueError(f"sha256 must have at least 8 hex digits, got {sha256!r}.")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    problem = "no attempt was made"
    for attempt in range(1, retries + 1):
        try:
            _fetch_into(url, part, timeout=timeout, progress=progress)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            # the partial file stays: the next attempt resumes where this one stopped
            problem = f"{type(e).__name__}: {getattr(e, 'reason', None) or e}"
        else:
            algorithm, expected = ("sha256", sha256) if sha256 else ("md5", md5)
            actual = file_digest(part, algorithm) if expected else None
            if actual == expected or (actual and algorithm == "sha256" and actual.startswith(expected)):
                part.replace(dest)
                return dest
            problem = (f"checksum mismatch ({algorithm} {actual}, expected {expected}); "
                       "deleted and retrying")
            part.unlink()
        if attempt < retries:
            time.sleep(retry_wait * attempt)
    raise DownloadError(
        f"Could not download {url} to {dest} after {retries} attempts; last problem: "
        f"{problem}. If this machine is offline, copy the file onto it by hand "
        f"(to {dest}) {offline_hint}."
    )


def fetch_hub_weights(url: str, *, cache_dir: str | Path | None = None, retries: int = 2,
                      timeout: float = 30.0, progress: bool = True) -> Path:
    """A torch.hub-style weights file (`<name>-<sha256 prefix>.pth`), fetched once and verified.

    The hex digits after the last "-" of the file name are the leading digits of its
    sha256, as torchvision names its weights. `cache_dir` defaults to torch.hub's
    checkpoints folder (~/.cache/torch/hub/checkpoints), so a file torchvision already
    fetched is reused. Returns its path; DownloadError when it cannot be had.
    """
    name = url.rstrip("/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0]
    prefix = stem.rsplit("-", 1)[-1] if "-" in stem else ""
    if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
        raise ValueError(f"{name!r} does not end in '-<8 or more hex digits of its sha256>': "
                         "the file cannot be verified.")
    if cache_dir is None:
        import torch

        cache_dir = Path(torch.hub.get_dir()) / "checkpoints"
    dest = Path(cache_dir) / name
    if dest.exists() and sha256sum(dest).startswith(prefix):
        return dest
    return download_url(url, dest, md5=None, sha256=prefix, retries=retries, timeout=timeout,
                        progress=progress, offline_hint=f"from a machine that can reach {url}")
