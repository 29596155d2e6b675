"""Benchmark datasets: initial conditions, presets, generation, storage (The Well's HDF5) and loading.

>>> import pde_data
>>> path = pde_data.generate("ks-lpsda-tiny", "ks.h5", n_samples=8, progress=False)  # doctest: +SKIP
>>> ds = pde_data.open(path)                  # xarray.Dataset, dims (sample, time, x)
>>> windows = pde_data.TrajectoryDataset(path, history=4, horizon=1)     # the window data mode
>>> trajectories = pde_data.FullTrajectoryDataset(path, split="valid")  # the trajectory data mode
"""

from pde_data.equations import Equation, register_equation
from pde_data.generate import GenerationError, generate, merge_shards, sample_seed, shard_path
from pde_data.initial_condition_data import InitialConditionDataset
from pde_data.initial_conditions import GaussianRandomField, RandomSineSeries, TruncatedFourierSeries
from pde_data.loading import FullTrajectoryDataset, TrajectoryDataset, open, split_samples
from pde_data.presets import Recipe, preset, presets, register_preset
from pde_data.well import WellWindows

__all__ = [
    "Equation",
    "FullTrajectoryDataset",
    "GaussianRandomField",
    "GenerationError",
    "InitialConditionDataset",
    "RandomSineSeries",
    "Recipe",
    "TrajectoryDataset",
    "TruncatedFourierSeries",
    "WellWindows",
    "generate",
    "merge_shards",
    "open",
    "preset",
    "presets",
    "register_equation",
    "register_preset",
    "sample_seed",
    "shard_path",
    "split_samples",
]
