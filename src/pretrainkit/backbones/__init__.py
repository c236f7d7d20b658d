"""Backbones: feature extractors that know their feature size and how to rebuild themselves.

Configs name classes by module (`pretrainkit.backbones.timm.TimmBackbone`), so importing this
package does not import timm (seconds of start-up) unless a timm backbone is used.
"""
