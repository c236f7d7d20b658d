"""MAE: masking, patch order, the masked normalised loss, the shared encoder, a falling loss."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch
from helpers import logged, make_cfg
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from safetensors.torch import load_file

from pretrainkit.backbones.timm import TimmBackbone
from pretrainkit.backbones.vit import encode_visible, gather_tokens, patchify, unpatchify
from pretrainkit.losses.masked_mse import masked_mse, normalize_patches
from pretrainkit.pretrain import pretrain
from pretrainkit.tasks.mae import MAE, num_visible, random_masking


def small_mae(size: int, patch: int, chans: int, **kwargs: object) -> MAE:
    """An MAE on a one-block ViT-Tiny: the same code paths as the default, a fraction of the cost."""
    backbone = TimmBackbone(
        "vit_tiny_patch16_224", chans, size, model_kwargs={"patch_size": patch, "depth": 1}
    )
    return MAE(backbone, partial(torch.optim.AdamW), **kwargs)


def test_masking_keeps_exactly_num_keep_patches_per_image_each_its_own():
    torch.manual_seed(0)
    keep, mask, restore = random_masking(batch_size=8, num_patches=49, num_keep=12)
    assert keep.shape == (8, 12) and mask.shape == restore.shape == (8, 49)
    assert mask.sum(1).tolist() == [37.0] * 8
    assert (mask.gather(1, keep) == 0).all()  # the kept patches are the unmasked ones
    assert len({tuple(row.tolist()) for row in mask}) == 8  # a different mask per image
    tokens = torch.arange(49.0).expand(8, 49).unsqueeze(-1)  # (B, N, 1), token i holds i
    masked = tokens[:, :1].expand(-1, 37, -1)  # stand-ins for the mask tokens
    reordered = gather_tokens(torch.cat([gather_tokens(tokens, keep), masked], 1), restore)
    assert torch.equal(reordered[mask == 0], tokens[mask == 0])  # visible tokens back in place


@pytest.mark.parametrize(
    ("num_patches", "ratio", "keep"), [(16, 0.75, 4), (49, 0.75, 12), (16, 0.5, 8), (10, 0.9, 1)]
)
def test_number_of_visible_patches(num_patches: int, ratio: float, keep: int):
    assert num_visible(num_patches, ratio) == keep


def test_mask_ratio_sets_how_many_patches_are_hidden():
    for ratio, masked in ((0.75, 12), (0.5, 8), (0.25, 4)):
        _, mask = small_mae(8, 2, 1, mask_ratio=ratio)(torch.randn(3, 1, 8, 8))
        assert mask.sum(1).tolist() == [masked] * 3


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.5, 1.5])
def test_mask_ratio_outside_0_1_is_refused(ratio: float):
    with pytest.raises(ValueError, match=rf"mask_ratio={ratio} must be in \(0, 1\)"):
        small_mae(8, 2, 1, mask_ratio=ratio)


def test_mask_ratio_hiding_every_patch_is_refused():
    with pytest.raises(ValueError, match="leaves no visible patch of 4"):
        num_visible(4, 0.9)


@pytest.mark.parametrize(("size", "patch", "chans"), [(8, 2, 1), (28, 4, 1), (8, 2, 3), (28, 4, 3)])
def test_predictions_cover_every_patch_at_the_image_shape(size: int, patch: int, chans: int):
    task = small_mae(size, patch, chans)
    x = torch.randn(4, chans, size, size)
    pred, mask = task(x)
    n = (size // patch) ** 2
    assert pred.shape == (4, n, patch * patch * chans) and mask.shape == (4, n)
    assert unpatchify(pred, patch, chans).shape == x.shape
    assert torch.isfinite(task.loss(x, pred, mask))


def test_loss_counts_masked_patches_only():
    torch.manual_seed(0)
    task = small_mae(8, 2, 1)
    x = torch.randn(4, 1, 8, 8)
    pred, mask = task(x)
    pred = pred.detach()
    loss = task.loss(x, pred, mask)
    visible = (mask == 0).unsqueeze(-1)  # (B, N, 1)
    assert task.loss(x, torch.where(visible, pred + 100, pred), mask) == loss
    target = normalize_patches(patchify(x, 2))  # (B, N, 4)
    assert task.loss(x, torch.where(visible, pred + 100, target), mask) == 0
    by_hand = ((pred - target) ** 2).mean(-1)[mask == 1].mean()  # (B*masked,) -> ()
    torch.testing.assert_close(loss, by_hand)
    assert masked_mse(pred, target, mask) == loss


def test_the_mae_encoder_is_the_backbone_used_alone():
    task = small_mae(28, 4, 1)
    x = torch.randn(2, 1, 28, 28)
    assert task.backbone(x).shape == (2, task.backbone.feature_dim) == (2, 192)
    vit = task.backbone.model
    every = torch.arange(49).expand(2, 49)  # keep all patches, in order
    torch.testing.assert_close(encode_visible(vit, x, every), vit.forward_features(x))
    pred, mask = task(x)
    task.loss(x, pred, mask).backward()
    for module in (vit.patch_embed, vit.blocks[0], vit.norm):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    assert not vit.pos_embed.requires_grad  # fixed 2-D sin-cos, as in the paper


def test_task_mae_selects_the_vit_and_the_dataset_patch_size(tmp_path: Path):
    for dataset, patch in (("digits", 2), ("fashion_mnist", 4), ("cifar10", 4), ("stl10", 8)):
        cfg = make_cfg("pretrain", ["task=mae", f"dataset={dataset}"], tmp_path)
        assert cfg.backbone.name.startswith("vit") and cfg.backbone.model_kwargs.patch_size == patch
    cfg = make_cfg("pretrain", ["task=mae", "backbone=resnet18"], tmp_path)
    assert cfg.backbone.name == "resnet18"  # the command line wins
    assert make_cfg("pretrain", [], tmp_path).backbone._target_.endswith("SmallCNN")


def test_a_backbone_that_is_not_a_vit_is_refused(tmp_path: Path):
    cfg = make_cfg("pretrain", ["task=mae", "backbone=small_cnn"], tmp_path)
    with pytest.raises(ValueError, match=r"backbone is SmallCNN\. Use backbone=vit_tiny"):
        MAE(instantiate(cfg.backbone), partial(torch.optim.AdamW))
    resnet = TimmBackbone("resnet18", 1, 8)
    with pytest.raises(ValueError, match=r"TimmBackbone\(resnet18\)\. Use backbone=vit_tiny"):
        MAE(resnet, partial(torch.optim.AdamW))


def test_a_timm_vit_name_of_another_model_class_is_refused_when_built(tmp_path: Path):
    """The config check (validate.py) tells a ViT by its timm name, before anything is built;
    some `vit_*` models are other classes (relative positions here, EVA for the `*_rope` ones),
    without the patch and position layout MAE uses. Only the built model tells them apart, so
    MAE keeps its own check: the exact one, the config check being the early one."""
    name = "vit_relpos_small_patch16_224"
    cfg = make_cfg("pretrain", ["task=mae", f"backbone.name={name}"], tmp_path)
    with pytest.raises(ValueError, match=rf"TimmBackbone\({name}\)\. Use backbone=vit_tiny"):
        MAE(instantiate(cfg.backbone), partial(torch.optim.AdamW))


def test_image_size_not_divisible_by_the_patch_size_is_refused():
    cfg = make_cfg("pretrain", ["task=mae", "dataset=fashion_mnist", "dataset.patch_size=3"])
    with pytest.raises(InstantiationException, match="28 is not divisible by patch size 3"):
        instantiate(cfg.backbone)


@pytest.mark.slow
def test_loss_falls_on_digits_and_the_export_is_the_trained_encoder(tmp_path: Path):
    overrides = [
        "task=mae",
        "logger=csv",
        "monitor=none",
        "data.batch_size=64",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=1.0",
        "trainer.limit_val_batches=1.0",
    ]
    cfg = make_cfg("pretrain", overrides, tmp_path)
    metrics = pretrain(cfg)
    epochs = logged(tmp_path, "train/loss_epoch")
    # Predicting zeros (each patch's normalised mean) is the loss to beat: below it, the model
    # reconstructs hidden patches from what it saw.
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    targets = torch.cat([normalize_patches(patchify(x, 2)) for x in datamodule.val_dataloader()])
    zero_loss = targets.pow(2).mean().item()
    print(
        f"train/loss by epoch {epochs}, val/loss {metrics['val/loss']:.3f}, zeros {zero_loss:.3f}"
    )
    assert len(epochs) == 3 and epochs[-1] < 0.9 * epochs[0]
    assert metrics["val/loss"] < 0.93 * zero_loss

    exported = load_file(str(tmp_path / "backbone.safetensors"))
    ckpt = torch.load(tmp_path / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    trained = {k.removeprefix("backbone."): v for k, v in ckpt["state_dict"].items()}
    assert exported.keys() == {k for k in trained if k.startswith("model.")}
    assert all(torch.equal(exported[k], trained[k]) for k in exported)
