"""SimCLR on recordings: NT-Xent between two views of each clip."""

from __future__ import annotations

from pretrainkit.tasks.simclr import SimCLR


class AudioSimCLR(SimCLR):
    """SimCLR (Chen et al., 2020) with audio views, as COLA (Saeed et al., 2021, "Contrastive
    Learning of General-Purpose Audio Representations") and BYOL-A (Niizumi et al., 2021) make
    them: two random crops in time of a clip (`pretrainkit.data.audio.views.Crops`), each
    mixed with another clip of the batch and gained (`GainAndMix`), then log-mel and
    SpecAugment's frequency and time masks in the backbone (`pretrainkit.backbones.audio`).
    The loss and projector are SimCLR's, negatives from every DDP rank."""

    name = "simclr_audio"
    modality = "audio"
