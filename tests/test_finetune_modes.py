"""Fine-tune budgets and modes: steps per epoch on small labeled sets, linear probes on cached
features, LP-FT's two stages, early stopping."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import make_cfg
from lightning.pytorch.callbacks import Callback
from omegaconf import open_dict

import pretrainkit.features as features_module
import pretrainkit.finetune as finetune_module
from pretrainkit.data.sampling import EpochSampler, epoch_repeats, steps_per_epoch
from pretrainkit.finetune import finetune
from pretrainkit.pretrain import pretrain

# digits: 10, 129 and 1295 labeled images at label_fraction 0.01, 0.1 and 1.0
LABELED = {0.01: 10, 0.1: 129, 1.0: 1295}


def test_budget_rule_counts_steps_not_passes():
    # one pass per epoch: 1 step for 10 labels, 1 for 129 (a trailing batch of 1 is dropped)
    assert [steps_per_epoch(n, 128, 0) for n in LABELED.values()] == [1, 1, 10]
    # at least 10 full batches an epoch: small sets repeat, 1295 labels already give 10
    assert [steps_per_epoch(n, 128, 10) for n in LABELED.values()] == [10, 10, 10]
    assert [epoch_repeats(n, 128, 10) for n in LABELED.values()] == [128, 10, 1]
    assert [steps_per_epoch(n, 128, 20) for n in LABELED.values()] == [20, 20, 20]
    # two ranks: each still takes 10 steps an epoch
    assert steps_per_epoch(10, 128, 10, world_size=2) == 10


def test_repeated_items_get_their_own_augmentation_seeds_and_resume_exactly():
    sampler = EpochSampler(list(range(10)), seed=3, seeded_items=True, repeats=4)
    sampler.set_epoch(2)
    epoch = list(sampler)
    assert len(epoch) == len(sampler) == 40
    assert Counter(i for i, _ in epoch) == {i: 4 for i in range(10)}  # each pass is whole
    assert len({seed for _, seed in epoch}) == 40  # a repeat is augmented anew
    sampler.resume(2, 13)
    assert list(sampler) == epoch[13:]
    plain = EpochSampler(list(range(10)), seed=3, seeded_items=True)  # one pass: as before
    plain.set_epoch(2)
    assert list(plain) == epoch[:10]


def test_a_small_labeled_set_repeats_within_an_epoch(tmp_path: Path):
    from hydra.utils import instantiate

    for min_steps, steps in ((10, 10), (0, 1)):
        cfg = make_cfg(
            "finetune", ["label_fraction=0.01", f"data.min_steps_per_epoch={min_steps}"], tmp_path
        )
        datamodule = instantiate(cfg.data)
        assert datamodule.num_labeled == 10
        batches = list(datamodule.train_dataloader())
        assert len(batches) == steps
        assert all(len(y) == (128 if min_steps else 10) for _, y in batches)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pre")
    pretrain(make_cfg("pretrain", ["logger=none"], out))
    return out


def _finetune(out: Path, *overrides: str) -> dict[str, Any]:
    cfg = make_cfg(
        "finetune",
        ["logger=none", "label_fraction=0.1", "trainer.limit_train_batches=1.0", *overrides],
        out,
    )
    return finetune(cfg)


def test_linear_probes_share_features_computed_once(
    pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Two learning rates: the backbone runs over train, val and test once, for the first."""
    calls: list[int] = []
    extract = features_module.extract

    def counted(backbone: Any, dataset: Any, *args: Any) -> Any:
        calls.append(len(dataset))
        return extract(backbone, dataset, *args)

    monkeypatch.setattr(features_module, "extract", counted)
    cache = tmp_path / "features"
    results = [
        _finetune(
            tmp_path / f"lr{lr}",
            f"pretrained={pretrained}",
            "finetune_mode=linear",
            f"optim.optimizer.lr={lr}",
            f"probe.cache_dir={cache}",
        )
        for lr in (0.001, 0.1)
    ]
    assert len(calls) == 3 and calls[0] == results[0]["num_labeled"] == 129
    assert [r["lr"] for r in results] == [0.001, 0.1]
    assert results[0]["history"] != results[1]["history"]  # the lr did change the probe
    assert all(r["method"] == "simclr-linear" and r["freeze_backbone"] for r in results)


def test_lp_ft_starts_from_the_linear_probes_best_head(
    pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    epochs = ["trainer.max_epochs=3", "optim.optimizer.lr=0.05"]
    linear = _finetune(
        tmp_path / "linear", f"pretrained={pretrained}", "finetune_mode=linear", *epochs
    )

    handed: dict[str, Any] = {}
    fit_probe = finetune_module.fit_probe

    def recorded(cfg: Any, model: Any, datamodule: Any) -> dict[str, Any]:
        stage = fit_probe(cfg, model, datamodule)
        handed["head"] = {k: v.clone() for k, v in model.head.state_dict().items()}
        handed["backbone"] = {k: v.clone() for k, v in model.backbone.state_dict().items()}
        return stage

    class StageTwoStart(Callback):
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            handed["start"] = {k: v.clone() for k, v in pl_module.head.state_dict().items()}
            backbone = pl_module.backbone
            handed["trainable"] = backbone.training and all(
                p.requires_grad for p in backbone.parameters()
            )

    build_trainer = finetune_module.build_trainer

    def with_probe(cfg: Any, loggers: Any) -> Any:
        trainer = build_trainer(cfg, loggers)
        trainer.callbacks.append(StageTwoStart())
        return trainer

    monkeypatch.setattr(finetune_module, "fit_probe", recorded)
    monkeypatch.setattr(finetune_module, "build_trainer", with_probe)
    lp_ft = _finetune(
        tmp_path / "lp_ft", f"pretrained={pretrained}", "finetune_mode=lp_ft", *epochs
    )

    # the frozen stage alone is the linear probe: same best val/acc, same curve
    assert lp_ft["lp_stage"]["val/acc_best"] == pytest.approx(linear["val/acc_best"])
    assert lp_ft["lp_stage"]["history"]["val/acc"] == linear["history"]["val/acc"]
    # the second stage starts from that head and trains the backbone too
    assert all(torch.equal(handed["start"][k], v) for k, v in handed["head"].items())
    assert handed["trainable"]
    assert lp_ft["method"] == "simclr-lp_ft" and not lp_ft["freeze_backbone"]
    saved = json.loads((tmp_path / "lp_ft/metrics.json").read_text())
    assert saved["finetune_mode"] == "lp_ft" and "lp_stage" in saved


def test_early_stopping_off_by_default_and_on_with_patience(pretrained: Path, tmp_path: Path):
    # lr 1e-30: the head never changes, so val/acc never beats epoch 1
    frozen = [f"pretrained={pretrained}", "optim.optimizer.lr=1e-30", "trainer.max_epochs=5"]
    full = _finetune(tmp_path / "off", *frozen)
    assert len(full["history"]["epoch"]) == 5
    stopped = _finetune(tmp_path / "on", *frozen, "callbacks.early_stopping.patience=2")
    assert stopped["history"]["epoch"] == [1, 2, 3]


def test_early_stopping_patience_is_checked(tmp_path: Path):
    from pretrainkit.callbacks import EarlyStopping

    with pytest.raises(ValueError, match="patience=0 must be >= 1"):
        EarlyStopping(patience=0)


def test_scratch_lp_ft_is_skipped_in_a_study_that_trains_two_scratch_modes(
    pretrained: Path, tmp_path: Path
):
    """`make demo`'s setting: scratch LP-FT is skipped, a pretrained backbone's LP-FT is not."""
    results = {}
    for source in ("null", str(pretrained)):
        cfg = make_cfg(
            "finetune",
            [f"pretrained={source}", "finetune_mode=lp_ft", "logger=none"],
            tmp_path / Path(source).name,
        )
        with open_dict(cfg):
            cfg.study.scratch_modes = ["linear", "finetune"]
            cfg.study.dir = str(tmp_path / "study")
        results[source] = finetune(cfg)
    assert results["null"] == {} and not (tmp_path / "null" / "metrics.json").exists()
    assert results[str(pretrained)]["method"] == "simclr-lp_ft"
