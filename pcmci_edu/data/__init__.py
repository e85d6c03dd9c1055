"""Datasets: the embedded causal benchmark, real readers, feature stores, label texts.

>>> from pcmci_edu.data import make_benchmark
>>> bench = make_benchmark("breakfast", profile="smoke")
>>> bench["train"].action_texts[43]
'pour egg to pan'
"""

from pcmci_edu.data.benchmark import Benchmark, BenchmarkConfig, BenchmarkSplit, make_benchmark
from pcmci_edu.data.dataset import VideoDataset

__all__ = ["Benchmark", "BenchmarkConfig", "BenchmarkSplit", "VideoDataset", "make_benchmark"]
