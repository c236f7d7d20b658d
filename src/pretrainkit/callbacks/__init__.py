from pretrainkit.callbacks.export import BackboneExport

__all__ = ["BackboneExport"]
