"""Datasets: the embedded causal benchmark, real readers, feature stores, label texts.

>>> from pcmci_edu.data import make_benchmark
>>> bench = make_benchmark("breakfast", profile="smoke")
>>> bench["train"].action_texts[43]
'pour egg to pan'
"""

from pcmci_edu.data.benchmark import Benchmark, BenchmarkConfig, BenchmarkSplit, make_benchmark, probe_report, zero_shot_scores
from pcmci_edu.data.breakfast import AnnotationError, Breakfast
from pcmci_edu.data.charades import Charades
from pcmci_edu.data.coin import COIN, read_coin_taxonomy
from pcmci_edu.data.dataset import VideoDataset
from pcmci_edu.data.features import FeatureError, FeatureStore

__all__ = [
    "COIN",
    "AnnotationError",
    "Benchmark",
    "BenchmarkConfig",
    "BenchmarkSplit",
    "Breakfast",
    "Charades",
    "FeatureError",
    "FeatureStore",
    "VideoDataset",
    "make_benchmark",
    "probe_report",
    "read_coin_taxonomy",
    "zero_shot_scores",
]
