"""Backbones for table rows: an MLP over embedded categories, and the FT-Transformer.

A row arrives as one float tensor (B, F), as `pretrainkit.data.tabular.table` encodes it: the
first `num_numeric` columns are standardised numbers, the others categorical codes (0: missing
or unseen, 1..K the categories; `cardinalities[j]` = K_j + 1). The data module gives both
sizes (`backbone_kwargs`), so the configs hold only the architecture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from pretrainkit.backbones.base import Backbone, Layers, layers_around
from pretrainkit.config.values import Range
from pretrainkit.errors import BadValueError, MissingFileError

Positive = Annotated[int, Range(ge=1)]
Dropout = Annotated[float, Range(ge=0, lt=1)]


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise BadValueError(message)


def _columns(num_numeric: int | None, cardinalities: Sequence[int] | None) -> list[int]:
    """Check the sizes a data module gives; the cardinalities as a plain list."""
    _require(
        num_numeric is not None and cardinalities is not None,
        "backbone.num_numeric and backbone.cardinalities come from a tabular dataset's data "
        "module (dataset=letter, mlbench or table_files); a tabular backbone cannot be built "
        "without them",
    )
    assert num_numeric is not None and cardinalities is not None
    cards = [int(c) for c in cardinalities]
    _require(num_numeric >= 0, f"backbone.num_numeric={num_numeric} must be >= 0")
    for j, c in enumerate(cards):
        _require(c >= 1, f"backbone.cardinalities[{j}]={c} must be >= 1 (code 0 is missing)")
    _require(num_numeric + len(cards) > 0, "the table has no columns: no numeric, no categorical")
    return cards


def _dropout(name: str, p: float) -> None:
    _require(0 <= p < 1, f"backbone.{name}={p} is outside [0, 1)")


class _Columns(nn.Module):
    """Splits rows (B, F) into numeric features (B, n_num) and integer codes (B, n_cat),
    refusing a row of another width or a code its column does not have."""

    def __init__(self, num_numeric: int, cardinalities: list[int]) -> None:
        super().__init__()
        self.num_numeric, self.num_columns = num_numeric, num_numeric + len(cardinalities)
        # Not in the state dict: the spec rebuilds it.
        self.register_buffer("cards", torch.tensor(cardinalities, dtype=torch.long), False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 2 or x.shape[1] != self.num_columns:
            raise BadValueError(
                f"the backbone reads rows of {self.num_columns} columns ({self.num_numeric} "
                f"numeric, {len(self.cards)} categorical), got a tensor of shape "
                f"{tuple(x.shape)}; was it pretrained on another table?"
            )
        codes = x[:, self.num_numeric :].long()
        bad = (codes < 0) | (codes >= self.cards)
        if bad.any():  # an embedding lookup would fail with an opaque (device) error
            row, j = (int(i) for i in bad.nonzero()[0])
            raise BadValueError(
                f"categorical column {j} holds code {int(codes[row, j])}, but "
                f"backbone.cardinalities[{j}]={int(self.cards[j])} allows codes "
                f"0..{int(self.cards[j]) - 1}; was it pretrained on another table?"
            )
        return x[:, : self.num_numeric], codes


class TabularMLP(Backbone):
    """Categorical codes through one embedding per column (`cat_embed_dim` each), concatenated
    with the numeric features, then Linear-BatchNorm1d-ReLU(-Dropout) blocks of `hidden_dims`;
    the features are the last block's output (feature_dim = hidden_dims[-1]).

    SCARF (Bahri et al., 2022, "SCARF: Self-Supervised Contrastive Learning using Random
    Feature Corruption") pretrains such an encoder: a 4-layer, 256-wide ReLU MLP
    (`hidden_dims=[256, 256, 256, 256]`).
    """

    modality = "tabular"

    def __init__(
        self,
        num_numeric: int | None = None,
        cardinalities: Sequence[int] | None = None,
        hidden_dims: Sequence[int] = (256, 256),
        cat_embed_dim: Positive = 8,
        dropout: Dropout = 0.0,
    ) -> None:
        cards = _columns(num_numeric, cardinalities)
        hidden_dims = [int(h) for h in hidden_dims]
        _require(bool(hidden_dims), "backbone.hidden_dims=[] needs at least one width")
        for i, h in enumerate(hidden_dims):
            _require(h >= 1, f"backbone.hidden_dims[{i}]={h} must be >= 1")
        _require(cat_embed_dim >= 1, f"backbone.cat_embed_dim={cat_embed_dim} must be >= 1")
        _dropout("dropout", dropout)
        super().__init__(
            num_numeric=num_numeric,
            cardinalities=cards,
            hidden_dims=hidden_dims,
            cat_embed_dim=cat_embed_dim,
            dropout=dropout,
        )
        assert num_numeric is not None
        self.columns = _Columns(num_numeric, cards)
        self.embeddings = nn.ModuleList(nn.Embedding(c, cat_embed_dim) for c in cards)
        blocks, width = [], num_numeric + cat_embed_dim * len(cards)
        for h in hidden_dims:
            layers = [nn.Linear(width, h, bias=False), nn.BatchNorm1d(h), nn.ReLU(inplace=True)]
            blocks.append(nn.Sequential(*layers, *([nn.Dropout(dropout)] if dropout else [])))
            width = h
        self.blocks = nn.Sequential(*blocks)
        self.feature_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        numeric, codes = self.columns(x)
        embedded = [e(codes[:, j]) for j, e in enumerate(self.embeddings)]  # (B, E) each
        return self.blocks(torch.cat([numeric, *embedded], dim=1))  # (B, hidden_dims[-1])

    def no_weight_decay(self) -> set[str]:
        """The categorical embeddings: a rare category's vector would decay toward zero
        between the few steps that see it."""
        return {"embeddings"}

    def layers(self) -> Layers:
        return layers_around(self, list(self.blocks))


class FTTransformer(Backbone):
    """FT-Transformer (Gorishniy et al., 2021, "Revisiting Deep Learning Models for Tabular
    Data"), built by the authors' `rtdl_revisiting_models` package.

    Each numeric feature becomes a token `value * w_j + b_j`, each categorical column the
    embedding of its code plus a bias; a learned [CLS] token joins them (the package puts it
    first, the paper last: the same, as nothing in a Transformer knows positions here) and
    `n_blocks` pre-norm Transformer blocks run on them (the first block without its attention
    norm, ReGLU feed-forward of `ffn_factor * d_token` hidden units, dropout on the attention
    map, the hidden units and the residual branches). The features are the [CLS] token after a
    final LayerNorm and ReLU, as the paper's head reads it (feature_dim = d_token).

    The defaults are the paper's default configuration (3 blocks).
    """

    modality = "tabular"

    def __init__(
        self,
        num_numeric: int | None = None,
        cardinalities: Sequence[int] | None = None,
        d_token: Positive = 192,
        n_blocks: Positive = 3,
        heads: Positive = 8,
        attention_dropout: Dropout = 0.2,
        ffn_factor: Annotated[float, Range(gt=0)] = 4 / 3,
        ffn_dropout: Dropout = 0.1,
        residual_dropout: Dropout = 0.0,
    ) -> None:
        cards = _columns(num_numeric, cardinalities)
        for name, value in {"d_token": d_token, "n_blocks": n_blocks, "heads": heads}.items():
            _require(value >= 1, f"backbone.{name}={value} must be >= 1")
        _require(
            d_token % heads == 0,
            f"backbone.d_token={d_token} must be divisible by backbone.heads={heads}",
        )
        _require(
            int(d_token * ffn_factor) >= 1,
            f"backbone.ffn_factor={ffn_factor} leaves no hidden unit at "
            f"backbone.d_token={d_token}; e.g. backbone.ffn_factor=1.3333333333333333",
        )
        for name, p in {
            "attention_dropout": attention_dropout,
            "ffn_dropout": ffn_dropout,
            "residual_dropout": residual_dropout,
        }.items():
            _dropout(name, p)
        super().__init__(
            num_numeric=num_numeric,
            cardinalities=cards,
            d_token=d_token,
            n_blocks=n_blocks,
            heads=heads,
            attention_dropout=attention_dropout,
            ffn_factor=ffn_factor,
            ffn_dropout=ffn_dropout,
            residual_dropout=residual_dropout,
        )
        assert num_numeric is not None
        try:
            import rtdl_revisiting_models as rtdl
        except ImportError as err:  # the [tabular] extra
            raise MissingFileError(
                "backbone=ft_transformer needs the rtdl-revisiting-models package: "
                "pip install 'pretrainkit[tabular]'"
            ) from err
        self.columns = _Columns(num_numeric, cards)
        self.model = rtdl.FTTransformer(
            n_cont_features=num_numeric,
            cat_cardinalities=cards,
            d_out=None,  # no head: the [CLS] token's state
            n_blocks=n_blocks,
            d_block=d_token,
            attention_n_heads=heads,
            attention_dropout=attention_dropout,
            ffn_d_hidden=None,
            ffn_d_hidden_multiplier=ffn_factor,
            ffn_dropout=ffn_dropout,
            ffn_activation="ReGLU",
            residual_dropout=residual_dropout,
        )
        self.norm = nn.LayerNorm(d_token)  # the paper's head norm, before its ReLU
        self.feature_dim = d_token

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        numeric, codes = self.columns(x)
        cls = self.model(
            numeric if self.model.cont_embeddings is not None else None,
            codes if self.model.cat_embeddings is not None else None,
        )  # (B, d_token)
        return F.relu(self.norm(cls))

    def no_weight_decay(self) -> set[str]:
        """The feature tokenizer and [CLS] token: the paper decays neither (nor norms, biases)."""
        return {"model.cls_embedding", "model.cont_embeddings", "model.cat_embeddings"}

    def layers(self) -> Layers:
        """Tokenizer and [CLS] at 0, block i at i + 1, the final norm at n_blocks + 1."""
        return layers_around(self, list(self.model.backbone.blocks))
