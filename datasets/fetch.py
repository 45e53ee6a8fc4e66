"""Locate, download or verify CIFAR-10 for the course: `python datasets/fetch.py`.

Uses $RECIPE_CIFAR10_OFFLINE when set, else downloads to $RECIPE_DATA_DIR (default:
this folder). Exits non-zero with a readable message when it cannot.
"""

import argparse
import sys

from recipe_utils.cifar import DataError, load_cifar10
from recipe_utils.download import DownloadError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="data folder (default: $RECIPE_DATA_DIR or datasets/)")
    parser.add_argument("--no-download", action="store_true", help="fail instead of downloading")
    args = parser.parse_args()
    try:
        data = load_cifar10(args.root, download=not args.no_download)
    except (DataError, DownloadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{data}: {len(data.train_labels)} train, {len(data.test_labels)} test images, "
          f"checksums {'verified' if data.verified else 'NOT verified (unknown copy)'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
