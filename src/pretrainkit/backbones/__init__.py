"""Backbones: feature extractors that know their feature size and how to rebuild themselves."""

from pretrainkit.backbones.base import Backbone
from pretrainkit.backbones.cnn import SmallCNN
from pretrainkit.backbones.timm import TimmBackbone

__all__ = ["Backbone", "SmallCNN", "TimmBackbone"]
