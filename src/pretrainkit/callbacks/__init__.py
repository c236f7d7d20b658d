from pretrainkit.callbacks.embedding import EmbeddingPlot
from pretrainkit.callbacks.export import BackboneExport
from pretrainkit.callbacks.health import HealthMonitor
from pretrainkit.callbacks.history import MetricHistory
from pretrainkit.callbacks.knn import KNNMonitor
from pretrainkit.callbacks.probe import OnlineProbe

__all__ = [
    "BackboneExport",
    "EmbeddingPlot",
    "HealthMonitor",
    "KNNMonitor",
    "MetricHistory",
    "OnlineProbe",
]
