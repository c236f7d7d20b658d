"""Where the Hydra configs live, and the few resolvers they use."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from pretrainkit.run.files import HYDRA_DIR, RESUMED_HYDRA_DIR


def config_dir() -> str:
    """The `conf/` directory: inside the installed wheel, else the checkout's top level."""
    packaged = Path(str(files("pretrainkit"))) / "conf"
    if (packaged / "pretrain.yaml").is_file():
        return str(packaged)
    checkout = Path(__file__).resolve().parents[3] / "conf"
    if (checkout / "pretrain.yaml").is_file():
        return str(checkout)
    raise FileNotFoundError(
        f"pretrainkit's configs were found neither at {packaged} nor at {checkout}; "
        "reinstall the package (pip install pretrainkit) or run from a checkout."
    )


def sweep_name() -> str:
    """The multirun's directory name (its timestamp by default): one W&B group per study,
    the same in every job whichever process or machine runs it. "local" outside Hydra."""
    return Path(HydraConfig.get().sweep.dir).name if HydraConfig.initialized() else "local"


def run_dir(resume: str | None, fresh: str) -> str:
    """hydra.run.dir: the resumed run's directory, else a fresh one."""
    return str(resume) if resume else fresh


def hydra_subdir(resume: str | None, stamp: str) -> str:
    """hydra.output_subdir: `.hydra`, or beside the original's for a resumed run."""
    return RESUMED_HYDRA_DIR.format(stamp=stamp) if resume else HYDRA_DIR


def precision(accelerator: str) -> str:
    """trainer.precision's default for `trainer.accelerator`: bf16 mixed precision where the run
    trains on a CUDA GPU with native bfloat16 (Ampere or newer; unlike fp16 it needs no loss
    scaling), else 32-true. Older GPUs only emulate bfloat16. On a CPU bf16 autocast ran a
    ResNet-18 2x faster here (AVX-512 BF16), but it moves every result and depends on the
    CPU, so there it is opt-in: trainer.precision=bf16-mixed."""
    if accelerator not in ("auto", "gpu", "cuda"):
        return "32-true"
    import torch  # here, not at the top: the entry points' start-up needs only config_dir

    native = torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return "bf16-mixed" if native else "32-true"


OmegaConf.register_new_resolver("pk.sweep_name", sweep_name, replace=True)
OmegaConf.register_new_resolver("pk.run_dir", run_dir, replace=True)
OmegaConf.register_new_resolver("pk.hydra_subdir", hydra_subdir, replace=True)
OmegaConf.register_new_resolver("pk.precision", precision, replace=True)
