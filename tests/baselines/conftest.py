"""Debian's fortunes for the text baselines (as tests/data/text/conftest.py gives it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pretrainkit.data.text.fortunes import FORTUNES_ROOT, Fortunes


@pytest.fixture(scope="session")
def fortunes() -> Fortunes:
    """The real corpus; skipped without Debian's fortunes locally, a failure in CI."""
    if not (Path(FORTUNES_ROOT) / "computers").is_file():
        if os.environ.get("CI"):
            pytest.fail("fortunes is missing in CI: .ci/run should have run `make data`.")
        pytest.skip("Debian's fortunes is not installed (make data)")
    return Fortunes()
