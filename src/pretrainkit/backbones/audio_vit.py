"""A ViT over log-mel spectrogram patches (AST, Gong et al., 2021; Audio-MAE, Huang et al., 2022)."""

from __future__ import annotations

from typing import Annotated, Any

import timm
import torch

from pretrainkit.backbones.audio import (
    Count,
    Milliseconds,
    Positive,
    SpectrogramBackbone,
    _require,
)
from pretrainkit.backbones.base import Layers, layers_around
from pretrainkit.backbones.timm import fused_attention
from pretrainkit.config.values import Range
from pretrainkit.data.audio.unlabeled import clip_samples
from pretrainkit.errors import BadValueError


class AudioViT(SpectrogramBackbone):
    """Waveforms (B, samples) at `sample_rate`, `clip_seconds` long -> features (B, embed_dim).

    The log-mel, SpecAugment and normalisation of `SpectrogramBackbone`, then a timm ViT (`name`,
    `model_kwargs` such as `depth`) built for the (n_mels, frames) "image" of one clip with one
    input channel and square `patch_size` patches, as AST and Audio-MAE patch a spectrogram
    (16 x 16 on 128 mel x 1024 frames there; 8 x 8 on 64 mel x 100 frames a second here). A
    clip's frames past the last whole column of patches are dropped (1 s at a 10 ms hop: 101
    frames, 96 used), so the ViT's grid is (n_mels / patch, frames // patch); clips of another
    length are refused (the positions are per grid cell). Features: the mean of the final
    normed patch tokens (`global_pool="avg"` without timm's separate fc_norm), the pooling
    Audio-MAE fine-tunes with; the class token is still there for the MAE encoder.
    """

    def __init__(
        self,
        sample_rate: Positive,
        clip_seconds: Annotated[float, Range(gt=0)],
        n_mels: Positive = 64,
        patch_size: Positive = 8,
        name: str = "vit_tiny_patch16_224",
        model_kwargs: dict[str, Any] | None = None,
        win_ms: Milliseconds = 25.0,
        hop_ms: Milliseconds = 10.0,
        f_min: Annotated[float, Range(ge=0)] = 60.0,
        f_max: Annotated[float, Range(gt=0)] | None = None,
        freq_masks: Count = 2,
        freq_mask_width: Count = 8,
        time_masks: Count = 2,
        time_mask_fraction: Annotated[float, Range(ge=0, le=1)] = 0.1,
    ) -> None:
        _require(
            n_mels % patch_size == 0,
            f"backbone.n_mels={n_mels} is not divisible by backbone.patch_size={patch_size}: "
            f"make n_mels a multiple of it (e.g. {patch_size * max(1, n_mels // patch_size)})",
        )
        super().__init__(
            sample_rate,
            n_mels,
            win_ms,
            hop_ms,
            f_min,
            f_max,
            freq_masks,
            freq_mask_width,
            time_masks,
            time_mask_fraction,
            clip_seconds=clip_seconds,
            patch_size=patch_size,
            name=name,
            model_kwargs=dict(model_kwargs or {}),
        )
        self.clip_frames = self.logmel.frames(clip_samples(clip_seconds, sample_rate))
        self.frames = self.clip_frames // patch_size * patch_size
        _require(
            self.frames > 0,
            f"data.clip_seconds={clip_seconds} gives {self.clip_frames} spectrogram frames, fewer "
            f"than one patch of {patch_size}: use longer clips or a smaller backbone.patch_size",
        )
        kwargs: dict[str, Any] = {"global_pool": "avg", "fc_norm": False, **(model_kwargs or {})}
        vit = timm.create_model(
            name,
            pretrained=False,  # weights come from pretext training, never from a download
            num_classes=0,
            in_chans=1,
            img_size=(n_mels, self.frames),
            patch_size=patch_size,
            **kwargs,
        )
        self.model = fused_attention(vit)
        self.feature_dim = self.model.num_features

    def spectrogram(self, waveforms: torch.Tensor, augment: bool | None = None) -> torch.Tensor:
        """`SpectrogramBackbone.spectrogram`, cut to the frames the ViT's grid covers."""
        spec = super().spectrogram(waveforms, augment)
        if spec.shape[-1] != self.clip_frames:
            seconds = self.spec["clip_seconds"]
            raise BadValueError(
                f"the audio ViT was built for {seconds} s clips ({self.clip_frames} frames), got "
                f"{waveforms.shape[1]} samples ({spec.shape[-1]} frames): set data.clip_seconds="
                f"{seconds}"
            )
        return spec[..., : self.frames]  # (B, 1, n_mels, frames)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.model(self.spectrogram(waveforms))  # (B, embed_dim)

    def layers(self) -> Layers:
        """The patch embedding, class token and positions at depth 0, block i at i + 1, the
        final norm above them."""
        return layers_around(self, self.model.blocks)
