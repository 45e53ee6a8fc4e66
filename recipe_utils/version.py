"""The course's version: pyproject.toml and CHANGELOG.md name the same (tests/test_repo.py)."""

VERSION = "0.2.0"
