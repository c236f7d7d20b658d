"""Where the Hydra configs live, and the few resolvers they use."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def config_dir() -> str:
    """The `conf/` directory: inside the installed wheel, else the checkout's top level."""
    packaged = Path(str(files("pretrainkit"))) / "conf"
    if (packaged / "pretrain.yaml").is_file():
        return str(packaged)
    checkout = Path(__file__).resolve().parents[2] / "conf"
    if (checkout / "pretrain.yaml").is_file():
        return str(checkout)
    raise FileNotFoundError(
        f"pretrainkit's configs were found neither at {packaged} nor at {checkout}; "
        "reinstall the package (pip install pretrainkit) or run from a checkout."
    )
