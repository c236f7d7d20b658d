"""The fine-tuning classifier: parameter groups, and a linear probe that works on any feature scale."""

from __future__ import annotations

import functools

import torch

from pretrainkit.backbones.cnn import SmallCNN
from pretrainkit.data.image.sources import Digits
from pretrainkit.tasks.classifier import Classifier


def classifier(freeze: bool, pretrained: bool = True) -> Classifier:
    torch.manual_seed(0)
    optimizer = functools.partial(torch.optim.AdamW, lr=0.01)
    return Classifier(SmallCNN(1), 10, optimizer, freeze_backbone=freeze, pretrained=pretrained)


def digits_batch(n: int = 64) -> torch.Tensor:
    images = Digits().labeled("train").images[:n].float() / 255
    return (images - 0.305) / 0.376


def test_probe_standardises_tiny_random_features():
    """A random frozen backbone's features have variances near 1e-9; the head's running
    statistics must match them after a few batches, or evaluation sees only the bias."""
    model = classifier(freeze=True).train()
    model.on_train_batch_start(None, 0)  # what Lightning calls: the frozen backbone goes to eval
    x = digits_batch()
    for _ in range(3):
        model(x)
    with torch.no_grad():
        features = model.backbone(x)
    norm = model.head[0]
    assert features.var(0).max() < 1e-3  # the premise: tiny features
    assert torch.allclose(norm.running_var, features.var(0, unbiased=True), rtol=1e-3)
    standardised = model.eval().head[0](features)
    assert 0.5 < standardised.std(0).mean() < 2


def test_learning_rates_scale_only_pretrained_backbones():
    def lrs(model: Classifier) -> list[float]:
        return sorted({round(g["lr"], 6) for g in model.configure_optimizers().param_groups})

    assert lrs(classifier(freeze=False, pretrained=True)) == [0.001, 0.01]  # backbone at 0.1x
    assert lrs(classifier(freeze=False, pretrained=False)) == [0.01]  # scratch: no handicap
    frozen = classifier(freeze=True)
    assert not any(p.requires_grad for p in frozen.backbone.parameters())
    trained = {id(p) for g in frozen.configure_optimizers().param_groups for p in g["params"]}
    assert trained == {id(p) for p in frozen.head.parameters()}  # the linear layer only
