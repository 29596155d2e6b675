"""Benchmark datasets: initial conditions, presets, generation, storage (The Well's HDF5) and loading.

>>> import pde_data
>>> path = pde_data.generate("ks-lpsda-tiny", "ks.h5", n_samples=8, progress=False)  # doctest: +SKIP
>>> ds = pde_data.open(path)                  # xarray.Dataset, dims (sample, time, x)
>>> windows = pde_data.TrajectoryDataset(path, history=4, horizon=1)
"""

from pde_data.generate import GenerationError, generate, merge_shards, sample_seed, shard_path
from pde_data.initial_conditions import GaussianRandomField, RandomSineSeries, TruncatedFourierSeries
from pde_data.loading import TrajectoryDataset, open
from pde_data.presets import Recipe, preset, presets

__all__ = [
    "GaussianRandomField",
    "GenerationError",
    "RandomSineSeries",
    "Recipe",
    "TrajectoryDataset",
    "TruncatedFourierSeries",
    "generate",
    "merge_shards",
    "open",
    "preset",
    "presets",
    "sample_seed",
    "shard_path",
]
