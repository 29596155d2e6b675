"""Benchmark datasets: initial conditions, presets, generation, storage (The Well's HDF5) and loading.

>>> import pde_data
>>> path = pde_data.generate("ks-lpsda-tiny", "ks.h5", n_samples=8, progress=False)  # doctest: +SKIP
>>> ds = pde_data.open(path)                  # xarray.Dataset, dims (sample, time, x)
>>> windows = pde_data.TrajectoryDataset(path, history=4, horizon=1)     # the window data mode
>>> trajectories = pde_data.FullTrajectoryDataset(path, split="valid")  # the trajectory data mode
"""

from typing import TYPE_CHECKING

from solvers.lazy import lazy_exports

if TYPE_CHECKING:  # the names load on first use, so that a light module (pde_data.sources) starts fast
    from pde_data.equations import Equation, register_equation
    from pde_data.generation import GenerationError, generate, merge_shards, sample_seed, shard_path
    from pde_data.initial_condition_data import InitialConditionDataset
    from pde_data.initial_conditions import GaussianRandomField, RandomSineSeries, TruncatedFourierSeries
    from pde_data.loading import FullTrajectoryDataset, TrajectoryDataset, open, split_samples
    from pde_data.recipes import Recipe, preset, presets, register_preset
    from pde_data.well import WellWindows

_EXPORTS = {
    "Equation": "pde_data.equations",
    "register_equation": "pde_data.equations",
    "GenerationError": "pde_data.generation",
    "generate": "pde_data.generation",
    "merge_shards": "pde_data.generation",
    "sample_seed": "pde_data.generation",
    "shard_path": "pde_data.generation",
    "InitialConditionDataset": "pde_data.initial_condition_data",
    "GaussianRandomField": "pde_data.initial_conditions",
    "RandomSineSeries": "pde_data.initial_conditions",
    "TruncatedFourierSeries": "pde_data.initial_conditions",
    "FullTrajectoryDataset": "pde_data.loading",
    "TrajectoryDataset": "pde_data.loading",
    "open": "pde_data.loading",
    "split_samples": "pde_data.loading",
    "Recipe": "pde_data.recipes",
    "preset": "pde_data.recipes",
    "presets": "pde_data.recipes",
    "register_preset": "pde_data.recipes",
    "WellWindows": "pde_data.well",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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
