"""I-JEPA: multi-block masks, the EMA target encoder, the loss by hand, a falling loss on digits,
a non-ViT refused, and pretrain -> fine-tune through the console scripts."""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from helpers import logged, make_cfg, run_cli
from hydra.utils import instantiate
from safetensors.torch import load_file

from pretrainkit.backbones.timm import TimmBackbone
from pretrainkit.backbones.vit import encode_visible, sincos_pos_embed
from pretrainkit.errors import BadValueError
from pretrainkit.pretrain import pretrain
from pretrainkit.tasks.block_masks import MultiBlockMasks, block_size, keep_equal_counts
from pretrainkit.tasks.ijepa import IJEPA, linear_momentum


def small_ijepa(size: int = 8, patch: int = 2, **kwargs: object) -> IJEPA:
    """An I-JEPA on a one-block ViT-Tiny with a one-block predictor: the default's code paths."""
    backbone = TimmBackbone(
        "vit_tiny_patch16_224", 1, size, model_kwargs={"patch_size": patch, "depth": 1}
    )
    kwargs = {"predictor_dim": 32, "predictor_depth": 1, "predictor_heads": 2, **kwargs}
    return IJEPA(backbone, partial(torch.optim.SGD, lr=0.1), **kwargs)


def rect(indices: torch.Tensor, width: int) -> tuple[int, int]:
    """The h x w of the rectangle `indices` fill exactly, or an AssertionError."""
    rows, cols = indices // width, indices % width
    h, w = int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1
    assert len(set(indices.tolist())) == len(indices) == h * w  # every cell of its bounding box
    return h, w


def test_block_size_follows_the_paper_within_the_grid():
    assert block_size((14, 14), 0.2, 1.0) == (6, 6)  # int(0.2 * 196) = 39 patches, ~6x6
    assert block_size((14, 14), 0.15, 1.5) == (7, 4)  # 29 patches, taller than wide
    assert block_size((4, 4), 1.0, 1.0) == (4, 4)  # the whole grid (the paper's code: 3x3)
    assert block_size((4, 4), 0.01, 1.0) == (1, 1)  # never empty


@pytest.mark.parametrize("grid", [(2, 2), (4, 4), (7, 7), (8, 8), (12, 12), (6, 10)])
def test_multiblock_masks_counts_shapes_in_grid_disjoint_and_equal_across_the_batch(grid):
    sampler = MultiBlockMasks(grid)
    n, g = grid[0] * grid[1], torch.Generator().manual_seed(0)
    sizes = set()
    for _ in range(30):
        context, targets = sampler(16, g)
        b, k = context.shape
        m = 3 if grid == (2, 2) else 4  # 2x2: one-patch blocks, as many as leave a context
        assert b == 16 and targets.shape[:2] == (16, m) and k >= sampler.min_count
        assert context.min() >= 0 and context.max() < n and targets.min() >= 0
        assert targets.max() < n
        assert (context.diff(dim=1) > 0).all()  # distinct, in grid order
        hidden = sampler.hidden(targets)  # (B, N)
        assert not hidden.gather(1, context).any()  # the context never sees a target
        blocks = {rect(block, grid[1]) for block in targets.flatten(0, 1)}
        assert len(blocks) == 1  # one target size per batch: every image, every block
        sizes |= blocks
        h, w = blocks.pop()
        assert m * h * w <= n - sampler.min_count  # the blocks always leave a context
        assert len({tuple(t.flatten().tolist()) for t in targets}) > 1  # positions per image
    assert len(sizes) > 1 or grid == (2, 2)  # the size is drawn per batch


def test_targets_cover_the_paper_share_and_the_context_most_of_the_rest():
    sampler = MultiBlockMasks((14, 14))  # the paper's ViT-H/14 grid at 224 px
    g = torch.Generator().manual_seed(0)
    shares, contexts = [], []
    for _ in range(50):
        context, targets = sampler(8, g)
        shares.append(targets.shape[2] / 196)
        contexts.append(context.shape[1] / 196)
    assert min(shares) >= 0.12 and max(shares) <= 0.22  # scale 0.15-0.2 after rounding
    assert 0.2 < sum(contexts) / len(contexts) < 0.7  # 85-100% block minus four targets


def test_a_tiny_grid_keeps_a_context_in_every_image():
    sampler = MultiBlockMasks((4, 4))  # digits: 8 px, patch 2
    g = torch.Generator().manual_seed(1)
    for _ in range(300):
        context, targets = sampler(64, g)
        assert context.shape[1] >= 1
        assert not sampler.hidden(targets).gather(1, context).any()


def test_a_grid_without_room_for_a_target_is_refused():
    with pytest.raises(BadValueError, match=r"a 1x1 patch grid holds no target block"):
        MultiBlockMasks((1, 1))


def test_equal_counts_keep_a_random_subset_of_each_rows_patches():
    chosen = torch.tensor([[1, 1, 1, 0, 1, 0], [0, 1, 0, 1, 0, 0]], dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    picks = [keep_equal_counts(chosen, g) for _ in range(20)]
    assert all(p.shape == (2, 2) and chosen.gather(1, p).all() for p in picks)
    assert all(p[1].tolist() == [1, 3] for p in picks)  # all of the smallest row, in order
    assert len({tuple(p[0].tolist()) for p in picks}) > 1  # not always the first ones


def test_linear_momentum_schedule():
    assert linear_momentum(0, 1000, 0.996) == 0.996
    assert math.isclose(linear_momentum(500, 1000, 0.996), 0.998)
    assert linear_momentum(1000, 1000, 0.996) == 1.0 == linear_momentum(2000, 1000, 0.996)
    assert linear_momentum(10, math.inf, 0.996) == 0.996  # no budget: constant τ_base


def test_target_encoder_takes_no_gradient_and_follows_the_ema():
    torch.manual_seed(0)
    task = small_ijepa(base_momentum=0.9)
    task.log = lambda *args, **kwargs: None  # no trainer to log to
    task.step(torch.randn(8, 1, 8, 8), "train").backward()
    target = list(task.target_backbone.parameters())
    assert all(p.grad is None and not p.requires_grad for p in target)
    vit = task.backbone.model
    for module in (vit.patch_embed, vit.blocks[0], vit.norm, task.predictor):
        assert all(p.grad is not None for p in module.parameters())
    assert not vit.pos_embed.requires_grad  # fixed 2-D sin-cos, as the paper
    optimizer = task.optimizer_factory(task.param_groups())
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not optimized & {id(p) for p in target}

    xi = [p.detach().clone() for p in target]
    task.trainer = SimpleNamespace(global_step=5)  # k = 5 of K = 10: τ = 0.9 + 0.1 * 0.5
    task._total_steps = 10
    task.optimizer_step(0, 0, optimizer)
    theta = [p.detach() for p in task.backbone.parameters()]
    assert not torch.equal(theta[-1], xi[-1])  # the step moved the backbone
    for new, old, online in zip(target, xi, theta, strict=True):
        torch.testing.assert_close(new, 0.95 * old + 0.05 * online)


def test_loss_on_a_tiny_case_matches_a_computation_by_hand():
    torch.manual_seed(0)
    task = small_ijepa()
    with torch.no_grad():  # a target encoder unlike the context encoder
        for p in task.target_backbone.parameters():
            p.add_(0.1 * torch.randn_like(p))
    context = torch.tensor([[0, 1, 4, 5, 8], [3, 10, 11, 14, 15]])  # (B=2, K=5) on 4x4
    targets = torch.tensor([[[2, 3], [6, 7]], [[0, 1], [12, 13]]])  # (B, M=2, T=2)
    task.masks = lambda batch_size: (context, targets)
    x = torch.randn(2, 1, 8, 8)
    loss = task.loss(*task(x))

    vit, pred = task.backbone.model, task.predictor
    pos = torch.cat([torch.zeros(1, 32), sincos_pos_embed(32, (4, 4))])  # (1 + N, D)
    diffs = []
    for i in range(2):
        full = task.target_backbone.model.forward_features(x[i : i + 1])[0, 1:]  # (N, De)
        mean, var = full.mean(-1, keepdim=True), full.var(-1, unbiased=False, keepdim=True)
        normed = (full - mean) / (var + 1e-5).sqrt()
        latent = encode_visible(vit, x[i : i + 1], context[i : i + 1])[0]  # (1 + K, De)
        seen = pred.embed(latent) + pos[torch.cat([torch.zeros(1, dtype=int), 1 + context[i]])]
        for j in range(2):
            queries = pred.mask_token[0] + pos[1 + targets[i, j]]  # (T, D)
            out = pred.blocks(torch.cat([seen, queries])[None])[0, -2:]
            diffs.append(pred.proj(pred.norm(out)) - normed[targets[i, j]])
    d = torch.stack(diffs).abs()
    by_hand = torch.where(d < 1, 0.5 * d**2, d - 0.5).mean()  # smooth-L1, β = 1
    torch.testing.assert_close(loss, by_hand)
    task.smooth_l1 = False
    torch.testing.assert_close(task.loss(*task(x)), d.pow(2).mean())


def test_a_backbone_that_is_not_a_vit_is_refused_in_one_line(tmp_path: Path):
    cfg = make_cfg("pretrain", ["task=ijepa", "backbone=small_cnn"], tmp_path)
    with pytest.raises(BadValueError) as err:
        IJEPA(instantiate(cfg.backbone), partial(torch.optim.AdamW))
    assert str(err.value) == (
        "task=ijepa masks the patches of a ViT, but the backbone is SmallCNN. "
        "Use backbone=vit_tiny."
    )
    with pytest.raises(BadValueError, match=r"TimmBackbone\(resnet18\)\. Use backbone=vit_tiny"):
        IJEPA(TimmBackbone("resnet18", 1, 8), partial(torch.optim.AdamW))


def test_task_ijepa_selects_the_vit_and_the_grid_of_each_image_dataset(tmp_path: Path):
    grids = {"digits": 4, "fashion_mnist": 7, "cifar10": 8, "stl10": 12}
    for dataset, grid in grids.items():
        cfg = make_cfg("pretrain", ["task=ijepa", f"dataset={dataset}"], tmp_path)
        backbone = instantiate(cfg.backbone)
        assert tuple(backbone.model.patch_embed.grid_size) == (grid, grid)
        task = instantiate(cfg.task, backbone=backbone)
        context, targets = task.masks(2)
        assert targets.shape[1] == 4 and context.max() < grid * grid


def test_loss_falls_on_digits_and_the_export_is_the_context_encoder(tmp_path: Path):
    # A one-block predictor and small batches keep this a CPU test of seconds.
    overrides = [
        "task=ijepa",
        "task.predictor_depth=1",
        "logger=csv",
        "monitor=none",
        "data.batch_size=32",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=8",
    ]
    pretrain(make_cfg("pretrain", overrides, tmp_path))
    epochs = logged(tmp_path, "train/loss_epoch")
    assert len(epochs) == 3 and epochs[-1] < 0.75 * epochs[0], epochs  # measured: 0.405 -> 0.240
    taus = torch.tensor(logged(tmp_path, "train/momentum"), dtype=torch.float64)
    steps = taus.diff()  # logged as float32: equal to about 1e-3 of a step
    assert taus[0] == pytest.approx(0.996, abs=1e-6) and torch.allclose(steps, steps.mean(), 0.01)
    assert taus[-1] == pytest.approx(1 - 0.004 / len(taus), abs=1e-6)  # 1 after the last step

    exported = load_file(str(tmp_path / "backbone.safetensors"))
    state = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=False)["state_dict"]
    online = {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
    target = {k.removeprefix("target_backbone."): v for k, v in state.items() if "target_" in k}
    assert exported.keys() == online.keys() == target.keys()
    assert all(torch.equal(exported[k], online[k]) for k in exported)
    assert not all(torch.equal(target[k], online[k]) for k in online)  # an average, not a copy


@pytest.mark.slow  # two cold starts; test_entrypoints runs ijepa pretrain -> fine-tune in-process
def test_console_scripts_pretrain_then_finetune(tmp_path: Path):
    pre = tmp_path / "pre"
    run_cli(
        "pk-pretrain", "task=ijepa", "+backbone.model_kwargs.depth=2", "task.predictor_depth=1",
        "data.batch_size=32", "monitor=none", "debug=fast", "logger=none", f"hydra.run.dir={pre}",
        cwd=tmp_path,
    )  # fmt: skip
    assert (pre / "backbone.safetensors").is_file()
    ft = tmp_path / "ft"
    run_cli(
        "pk-finetune", f"pretrained={pre}", "label_fraction=0.1", "debug=fast", "logger=none",
        f"hydra.run.dir={ft}", cwd=tmp_path,
    )  # fmt: skip
    result = json.loads((ft / "metrics.json").read_text())
    assert result["task"] == "ijepa" and 0 <= result["test/acc"] <= 1
