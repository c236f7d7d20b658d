"""SCARF and VIME on real table rows (UCI Letter Recognition): the loss falls through the real
entry point, each logs its terms, and VIME's loss is the paper's sum of per-type terms."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import logged, make_cfg
from hydra.utils import instantiate

from pretrainkit.backbones.tabular import TabularMLP
from pretrainkit.losses.ntxent import NTXentLoss
from pretrainkit.pretrain import pretrain
from pretrainkit.tasks.scarf import SCARF
from pretrainkit.tasks.vime import VIME


@pytest.mark.parametrize(
    ("task", "fall", "terms"),
    [
        # InfoNCE at temperature 1 moves little: log(2 x 128 - 1) = 5.54 at chance; measured
        # 5.30, 5.19, 5.16, 5.17 over these four short epochs
        ("scarf", 0.98, []),
        pytest.param(
            "vime",
            0.95,
            ["train/mask_loss_epoch", "train/recon_loss_epoch"],
            marks=pytest.mark.slow,
        ),
    ],
)
def test_loss_falls_on_letter_rows(
    task: str, fall: float, terms: list[str], mlbench_root: str, tmp_path: Path
):
    overrides = [
        f"task={task}",
        f"dataset.source.root={mlbench_root}",
        "data.batch_size=128",
        "monitor=[knn]",
        "logger=csv",
        "trainer.max_epochs=4",
        "trainer.limit_train_batches=15",
    ]
    metrics = pretrain(make_cfg("pretrain", overrides, tmp_path))
    epochs = logged(tmp_path, "train/loss_epoch")
    assert len(epochs) == 4 and epochs[-1] < fall * epochs[0], epochs
    for term in terms:
        values = logged(tmp_path, term)
        assert values[-1] < values[0], (term, values)
    assert metrics["val/knn_acc"] > 0.3  # 26 letters: chance is under 0.04
    assert (tmp_path / "backbone.safetensors").is_file()


def rows() -> dict[str, torch.Tensor]:
    """Two numeric features and one categorical column of 3 codes, its corrupted copy, mask."""
    x = torch.tensor([[0.5, -1.0, 1.0], [1.5, 0.0, 2.0], [-0.2, 0.3, 0.0], [0.1, 0.9, 1.0]])
    corrupted = x.clone()
    corrupted[0, 0], corrupted[1, 2] = 1.5, 0.0
    mask = torch.zeros_like(x)
    mask[0, 0] = mask[1, 2] = 1.0
    return {"x": x, "corrupted": corrupted, "mask": mask}


def make(cls: type, **kwargs: object):
    backbone = TabularMLP(num_numeric=2, cardinalities=[3], hidden_dims=[16])
    module = cls(backbone, optimizer=torch.optim.AdamW, **kwargs)
    module.logged = {}
    module.log = lambda name, value, **flags: module.logged.__setitem__(name, value)
    return module.eval()


def test_scarf_contrasts_each_row_with_its_corrupted_copy():
    torch.manual_seed(0)
    module = make(SCARF, head_hidden_dim=8, head_output_dim=4, temperature=1.0)
    batch = rows()
    loss = module.step(batch, "val")
    with torch.no_grad():
        z = module.head(module.backbone(torch.cat([batch["x"], batch["corrupted"]])))
    expected = NTXentLoss(temperature=1.0)(*z.chunk(2))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(module.logged) == {"val/loss"}


def test_vime_loss_is_mask_plus_alpha_times_per_type_reconstruction():
    torch.manual_seed(0)
    module = make(VIME, head_hidden_dim=8, alpha=2.0)
    batch = rows()
    loss = module.step(batch, "val")
    with torch.no_grad():
        features = module.backbone(batch["corrupted"])
        mask_logits, recon = module.mask_head(features), module.feature_head(features)
    assert recon.shape == (4, 2 + 3)  # two numbers, then the categorical column's 3 logits
    mask_loss = F.binary_cross_entropy_with_logits(mask_logits, batch["mask"])
    numeric = ((recon[:, :2] - batch["x"][:, :2]) ** 2).sum() / 4  # summed over both features
    categorical = F.cross_entropy(recon[:, 2:], batch["x"][:, 2].long())
    expected = mask_loss + 2.0 * (numeric + categorical) / 3
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(module.logged) == {"val/loss", "val/mask_loss", "val/recon_loss", "val/mask_acc"}


def test_vime_refuses_a_backbone_that_reads_no_table():
    from pretrainkit.backbones.cnn import SmallCNN
    from pretrainkit.errors import BadValueError

    with pytest.raises(BadValueError, match="task=vime reconstructs table columns"):
        VIME(SmallCNN(), optimizer=torch.optim.AdamW)


def test_the_tasks_config_brings_table_rows_and_a_tabular_backbone(tmp_path: Path):
    for task in ("scarf", "vime"):
        cfg = make_cfg("pretrain", [f"task={task}"], tmp_path)
        assert cfg.modality == "tabular" and cfg.dataset.name == "letter"
        backbone = instantiate(cfg.backbone, num_numeric=16, cardinalities=[])
        assert backbone.modality == "tabular"
