"""pk-eval: the weighted k-NN against a hand computation, the multi-head probe against single
torch probes, choices made on validation only, shot draws, the feature cache, one-line refusals,
and the console script on a tiny digits pretraining."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import make_cfg, run_cli
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn.datasets import load_digits
from torch import nn

import pretrainkit.features
from pretrainkit.callbacks.knn import knn_predict
from pretrainkit.config.checks import check_keys, check_target, target_nodes
from pretrainkit.config.schema import EvalConfig
from pretrainkit.eval import cached_features, evaluate, load, positional
from pretrainkit.evaluate.knn import KNNGrid, knn_grid, knn_votes
from pretrainkit.evaluate.linear import LinearGrid, standardized, train_heads
from pretrainkit.evaluate.protocol import accuracy, best_on_val
from pretrainkit.evaluate.shots import check_shots_fit, shot_indices
from pretrainkit.pretrain import pretrain
from pretrainkit.run.export import save_backbone

Split = tuple[torch.Tensor, torch.Tensor]


@pytest.fixture(scope="module")
def digits() -> dict[str, Split]:
    """Real digits as 64 pixel features: train, val and test (scaled to [0, 1])."""
    x, y = load_digits(return_X_y=True)
    x, y = torch.tensor(x / 16, dtype=torch.float32), torch.tensor(y)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    parts = order.split([1000, 300, len(y) - 1300])
    return {s: (x[i], y[i]) for s, i in zip(("train", "val", "test"), parts, strict=True)}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SimCLR pretraining on digits (two batches of one epoch, no monitors), as
    pk-pretrain runs it."""
    run = tmp_path_factory.mktemp("pretrain")
    pretrain(make_cfg("pretrain", ["logger=none", "monitor=none"], run))
    return run


def eval_cfg(pretrained: Path | str, out: Path, *overrides: str):
    """conf/eval.yaml for `pretrained`, logging nowhere, short probes, writing into `out`."""
    fast = ["logger=none", "eval.linear.epochs=5", f"eval.cache_dir={out.parent / 'cache'}"]
    return make_cfg("eval", [f"pretrained={pretrained}", *fast, *overrides], out, shrink=False)


def test_knn_votes_match_a_hand_computation():
    bank = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]])  # unit vectors
    labels = torch.tensor([0, 1, 1, 0])
    query = torch.tensor([[1.0, 0.2]])
    # cosine similarities of (1, 0.2)/|(1, 0.2)| with each bank vector, by hand
    norm = math.sqrt(1.04)
    sims = [1 / norm, (0.8 + 0.12) / norm, 0.2 / norm, -1 / norm]
    t = 0.5
    w = [math.exp(s / t) for s in sims[:3]]  # the 3 nearest: items 0, 1, 2
    expected = torch.tensor([[w[0], w[1] + w[2]]]) / sum(w)  # class 0: item 0; class 1: items 1, 2
    votes = knn_votes(query, bank, labels, 2, k=3, temperature=t)
    assert torch.allclose(votes, expected, atol=1e-6)
    assert votes.argmax(1).item() == 1  # two close class-1 neighbours outvote the nearest one
    assert knn_votes(query, bank, labels, 2, k=1, temperature=t).argmax(1).item() == 0
    # a small temperature no longer overflows: exp(1 / 0.001) is inf in float32
    assert torch.isfinite(knn_votes(query, bank, labels, 2, k=3, temperature=1e-3)).all()


def test_knn_grid_is_the_online_monitors_knn_at_every_setting(digits: dict[str, Split]):
    (train_x, train_y), (val_x, _) = digits["train"], digits["val"]
    grid = knn_grid(val_x, train_x, train_y, 10, [1, 20, 200], [0.07, 0.5], chunk_size=64)
    for (k, t), pred in grid.items():
        assert torch.equal(pred, knn_predict(val_x, train_x, train_y, 10, k, t)), (k, t)
    assert KNNGrid(k=[10, 20, 100, 200]).grid(15) == [(10, t) for t in (0.02, 0.07, 0.2)] + [
        (15, t) for t in (0.02, 0.07, 0.2)
    ]  # k capped at the training set's size


def single_probe(x: torch.Tensor, y: torch.Tensor, lr: float, epochs: int, batch: int) -> nn.Linear:
    """The reference: one nn.Linear trained with torch.optim.SGD and CosineAnnealingLR, its init
    and batch order drawn as train_heads draws them (seed 0)."""
    linear = nn.Linear(x.shape[1], 10)
    with torch.no_grad():
        linear.weight.copy_(
            torch.randn(10, x.shape[1], generator=torch.Generator().manual_seed(0)) * 0.01
        )
        linear.bias.zero_()
    optimizer = torch.optim.SGD(linear.parameters(), lr=lr, momentum=0.9)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, epochs * math.ceil(len(y) / batch)
    )
    order = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=order).split(batch):
            optimizer.zero_grad()
            F.cross_entropy(linear(x[idx]), y[idx]).backward()
            optimizer.step()
            schedule.step()
    return linear


def test_multi_head_probe_equals_single_probes_trained_alone(digits: dict[str, Split]):
    x, y = (t[:500] for t in digits["train"])
    lrs = [0.01, 0.1, 1.0]
    model, history = train_heads(x, y, 10, lrs, epochs=3, batch_size=128)
    for h, lr in enumerate(lrs):
        alone = single_probe(x, y, lr, epochs=3, batch=128)
        assert torch.allclose(model.weight[h].T, alone.weight, atol=1e-5), lr
        assert torch.allclose(model.bias[h, 0], alone.bias, atol=1e-5), lr
    assert (history[-1] < history[0]).all()  # each head's own loss fell
    assert len(set(history[-1].tolist())) == len(lrs)  # ... each its own way


def test_settings_are_chosen_on_validation_never_on_test(digits: dict[str, Split]):
    """Test labels are made to be exactly what the setting validation ranks worse predicts:
    it is then the best on test, and still not the one chosen."""
    train, val, (test_x, _) = digits["train"], digits["val"], digits["test"]
    knn = KNNGrid(k=[1, 200], temperature=[0.5])
    preds = knn_grid(val[0], *train, 10, [1, 200], [0.5])
    val_acc = {k: accuracy(preds[k, 0.5], val[1]) for k in (1, 200)}
    worse = min(val_acc, key=val_acc.get)
    rigged = knn_grid(test_x, *train, 10, [worse], [0.5])[worse, 0.5]
    outcome = knn.run(train, val, (test_x, rigged), 10)
    assert outcome.chosen["k"] != worse and outcome.val_acc == max(val_acc.values())
    assert outcome.test_acc < 1.0  # the chosen k's test accuracy, not the rigged one's 100%

    linear = LinearGrid(lr=[1e-4, 0.1], epochs=5, batch_size=128)
    x_train, x_val, x_test = standardized(train[0], val[0], test_x)
    model, _ = train_heads(x_train, train[1], 10, linear.lr, epochs=5, batch_size=128)
    with torch.no_grad():
        val_accs = [accuracy(model.head(h, x_val).argmax(1), val[1]) for h in range(2)]
        worse_head = int(np.argmin(val_accs))
        rigged = model.head(worse_head, x_test).argmax(1)
    outcome = linear.run(train, val, (test_x, rigged), 10)
    assert outcome.chosen["lr"] == linear.lr[1 - worse_head] and outcome.test_acc < 1.0
    assert {t["lr"] for t in outcome.tried} == set(linear.lr)
    assert all("test_acc" not in t for t in outcome.tried)  # only the chosen setting sees test


def test_ties_on_validation_go_to_the_lower_loss_then_the_earlier_setting():
    tried = [
        {"lr": 0.1, "val_acc": 0.9, "val_loss": 0.5},
        {"lr": 0.3, "val_acc": 0.9, "val_loss": 0.4},
        {"lr": 1.0, "val_acc": float("nan"), "val_loss": float("nan")},
    ]
    assert best_on_val(tried)["lr"] == 0.3
    assert best_on_val([{"k": 10, "val_acc": 0.8}, {"k": 20, "val_acc": 0.8}])["k"] == 10


def test_shot_draws_hold_n_examples_of_every_class_and_nest():
    targets = load_digits().target
    one, five = shot_indices(targets, 1, seed=0), shot_indices(targets, 5, seed=0)
    assert np.bincount(targets[five]).tolist() == [5] * 10 and len(one) == 10
    assert set(one) <= set(five)  # for one seed, fewer shots are a subset of more
    assert set(five) != set(shot_indices(targets, 5, seed=1))
    check_shots_fit([1, 5], targets, "100% of the labels")
    smallest = np.bincount(targets).min()
    with pytest.raises(ValueError, match=f"has only {smallest} labeled training examples"):
        check_shots_fit([5, smallest + 1], targets, "100% of the labels")


def test_features_are_cached_and_a_change_of_backbone_data_transform_or_split_recomputes(
    pretrained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    computed: list[int] = []  # the size of each split whose features were computed
    extract = pretrainkit.features.extract
    monkeypatch.setattr(
        pretrainkit.features,
        "extract",
        lambda backbone, dataset, *a: (
            computed.append(len(dataset)) or extract(backbone, dataset, *a)
        ),
    )

    def features(source: Path, *overrides: str):
        computed.clear()
        budget = [] if any(o.startswith("label_") for o in overrides) else ["label_fraction=0.1"]
        cfg = eval_cfg(source, tmp_path / "run", "data.batch_size=512", *budget, *overrides)
        backbone, _ = load(cfg)
        return cached_features(cfg, backbone, instantiate(cfg.data), torch.device("cpu"))

    first, reused = features(pretrained)
    assert reused == 0 and computed == [129, 143, 359]
    again, reused = features(pretrained)
    assert reused == 3 and computed == []
    assert all(torch.equal(first[s][0], again[s][0]) for s in first)
    assert features(pretrained, "label_fraction=0.2")[1] == 2 and len(computed) == 1  # train
    assert features(pretrained, "data.val_fraction=0.2")[1] == 1 and len(computed) == 2  # not test
    assert features(pretrained, "augment.eval.mean=[0.5]")[1] == 0  # another transform
    other = tmp_path / "other"
    backbone, info = load(eval_cfg(pretrained, tmp_path / "x"))
    with torch.no_grad():
        next(backbone.parameters()).add_(0.01)
    save_backbone(backbone, other, {"in_chans": info["in_chans"]})
    assert features(other)[1] == 0 and len(computed) == 3
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 3 + 1 + 2 + 3 + 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["eval.knn.k=[]"], r"eval.knn.k=\[\]: give neighbourhood sizes >= 1"),
        (["eval.linear.lr=[]"], r"eval.linear.lr=\[\]: give learning rates > 0"),
        (["eval.knn=null", "eval.linear=null"], "nothing to evaluate"),
        (["eval.shots=[0]"], "shot counts must be >= 1"),
        (["eval.shots=[1,500]"], r"eval.shots=\[1, 500\]: class \d has only \d+ labeled"),
        (["eval.linear.epochs=0"], r"eval.linear.epochs=0 must be >= 1"),
        (["label_fraction=0.01", "eval.shots=[5]"], "at 1% of the labels"),
    ],
)
def test_bad_settings_are_refused_in_one_line_before_any_work(
    pretrained: Path, tmp_path: Path, overrides: list[str], message: str
):
    with pytest.raises(ValueError, match=message) as caught:
        evaluate(eval_cfg(pretrained, tmp_path / "run", *overrides))
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()  # no work


def test_a_missing_backbone_or_one_for_other_data_is_refused(pretrained: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="no such file or directory"):
        evaluate(eval_cfg(tmp_path / "missing", tmp_path / "a"))
    from pretrainkit.backbones.tabular import TabularMLP

    rows = tmp_path / "rows"  # what a tabular pretraining exports
    save_backbone(TabularMLP(num_numeric=4, cardinalities=[3]), rows, {"modality": "tabular"})
    with pytest.raises(
        ValueError, match="is a backbone for tabular but dataset=digits holds image"
    ):
        evaluate(eval_cfg(rows, tmp_path / "b"))
    backbone, info = load(eval_cfg(pretrained, tmp_path / "c"))
    wide = tmp_path / "wide"  # the same CNN, pretrained on 3-channel images
    save_backbone(backbone, wide, {"modality": "image", "in_chans": 3})
    with pytest.raises(ValueError, match="trained on 3-channel images but dataset=digits has 1"):
        evaluate(eval_cfg(wide, tmp_path / "d"))
    assert not (tmp_path / "cache").exists() and not list(tmp_path.glob("?"))  # no run dir


@pytest.mark.parametrize(
    ("dataset", "modality"),
    [("digits", "image"), ("fortunes", "text"), ("letter", "tabular"), ("asterisk", "audio")],
)
def test_the_config_composes_for_every_kind_of_labeled_data(
    dataset: str, modality: str, tmp_path: Path
):
    cfg = eval_cfg(tmp_path / "run", tmp_path / "out", f"dataset={dataset}")
    OmegaConf.resolve(cfg)  # every interpolation has a target
    assert cfg.modality == modality and cfg.data._target_.split(".")[-3] == modality
    check_keys(cfg, EvalConfig)
    for path, node in target_nodes(cfg):
        check_target(path, node)


def test_the_backbone_may_be_the_first_argument():
    assert positional(["run/dir", "eval.shots=[1]"]) == ["pretrained=run/dir", "eval.shots=[1]"]
    assert positional(["-m", "a b", "seed=0,1"]) == ["-m", "pretrained='a b'", "seed=0,1"]
    assert positional(["--cfg", "job", "x.safetensors"]) == [
        "--cfg",
        "job",
        "pretrained=x.safetensors",
    ]
    assert positional(["pretrained=x"]) == ["pretrained=x"]


def test_console_script_evaluates_a_digits_pretraining(pretrained: Path, tmp_path: Path):
    """The README's command on a tiny SimCLR run: quiet terminal (what it does, the features,
    the table, the result), eval.json + eval.md, the whole log in eval.log, an offline W&B run."""
    run = tmp_path / "eval"
    proc = run_cli(
        "pk-eval", str(pretrained), "eval.shots=[1,5]", "eval.shot_seeds=[0,1]",
        "eval.linear.epochs=20", f"hydra.run.dir={run}", cwd=tmp_path,
    )  # fmt: skip
    said = (proc.stdout + proc.stderr).splitlines()
    assert said[0].startswith(f"eval: k-NN and linear probes of {pretrained} on digits")
    assert said[1].startswith("eval: features of 1,295 train / 143 val / 359 test examples")
    table = (run / "eval.md").read_text()
    assert said[2:-1] == [line for line in table.splitlines() if line.startswith("|")]
    assert said[-1].startswith("eval: done in ") and len(said) == 2 + 2 + 6 + 1, said
    result = json.loads((run / "eval.json").read_text())
    rows = {(r["protocol"], r["shots"]): r for r in result["results"]}
    assert set(rows) == {(p, n) for p in ("knn", "linear") for n in (None, 1, 5)}
    assert rows["knn", None]["chosen"]["k"] in (10, 20, 100, 200)
    assert rows["linear", 5]["num_labeled"] == 50 and rows["linear", 5]["seeds"] == [0, 1]
    assert all(0.5 < rows[p, None]["test_acc"] <= 1 for p in ("knn", "linear"))  # real features
    assert result["task"] == "simclr" and result["standardize"] is True
    assert result["metrics"]["test/knn_acc"] == rows["knn", None]["test_acc"]
    assert "chose" in (run / "eval.log").read_text()  # every setting tried: the log only
    assert list((run / "wandb").glob("offline-run-*/run-*.wandb"))
