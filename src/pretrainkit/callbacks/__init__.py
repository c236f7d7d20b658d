from pretrainkit.callbacks.early_stopping import EarlyStopping
from pretrainkit.callbacks.embedding import EmbeddingPlot
from pretrainkit.callbacks.export import BackboneExport
from pretrainkit.callbacks.fast import FastPaths
from pretrainkit.callbacks.finite import FiniteLoss, NonFiniteLossError
from pretrainkit.callbacks.health import HealthMonitor
from pretrainkit.callbacks.history import EpochHistory, MetricHistory
from pretrainkit.callbacks.keep_best import KeepBest
from pretrainkit.callbacks.knn import KNNMonitor
from pretrainkit.callbacks.probe import OnlineProbe
from pretrainkit.callbacks.progress import LoggedMetricsBar
from pretrainkit.callbacks.rng import RngState

__all__ = [
    "BackboneExport",
    "EarlyStopping",
    "EmbeddingPlot",
    "EpochHistory",
    "FastPaths",
    "FiniteLoss",
    "HealthMonitor",
    "KeepBest",
    "KNNMonitor",
    "LoggedMetricsBar",
    "MetricHistory",
    "NonFiniteLossError",
    "OnlineProbe",
    "RngState",
]
