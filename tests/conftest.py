"""Fixtures every test gets: W&B offline and out of the user's account, caches out of the
checkout; real digits as PNG files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (make test) the workers share the cores: one torch thread each, and
    for the processes they start (16% less wall time than a thread per core each, measured on
    2 cores with 2 workers)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of trained tokenizers and tokenised corpora for the whole session, as a user's
    `outputs/.cache` is shared between runs (the cache's own tests use private ones)."""
    return tmp_path_factory.mktemp("pk-cache")


@pytest.fixture(autouse=True)
def _cache_out_of_the_checkout(shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRETRAINKIT_CACHE", str(shared_cache))


@pytest.fixture(autouse=True)
def _offline_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches the network or the user's W&B account."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


@pytest.fixture
def digits_folder(tmp_path: Path) -> Path:
    """Real digits images written as PNGs, one folder per class (60 per class)."""
    from PIL import Image

    from pretrainkit.data.image.sources import Digits

    root = tmp_path / "digits_png"
    split = Digits().labeled("train")
    counts: dict[int, int] = {}
    for image, target in (split[i] for i in range(len(split))):
        if counts.get(target, 0) >= 60:
            continue
        counts[target] = counts.get(target, 0) + 1
        folder = root / f"class_{target}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0].numpy(), mode="L").save(folder / f"{counts[target]:03d}.png")
    return root


@pytest.fixture(scope="session")
def mlbench_root() -> str:
    """The folder of R's mlbench tables (`make data` unpacks them); skipped locally without
    them, a failure in CI (.ci/run runs `make data`)."""
    import os

    from pretrainkit.data.tabular.mlbench import find_root
    from pretrainkit.errors import MissingFileError

    try:
        return str(find_root(None))
    except MissingFileError:
        if os.environ.get("CI"):
            pytest.fail("mlbench's tables are missing in CI: .ci/run should have run `make data`.")
        pytest.skip("mlbench's tables are not unpacked (make data)")


@pytest.fixture(scope="session")
def asterisk_root() -> str:
    """Debian's recorded Asterisk prompts (`make data`); skipped locally without them, a
    failure in CI."""
    import os

    root = Path("/usr/share/asterisk/sounds")
    if not (root / "it_IT_f_Menardi").is_dir():
        if os.environ.get("CI"):
            pytest.fail("the Asterisk prompts are missing in CI: .ci/run should run `make data`.")
        pytest.skip("Debian's asterisk prompt packages are not installed (make data)")
    return str(root)
