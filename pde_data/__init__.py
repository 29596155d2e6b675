"""Benchmark datasets: initial conditions, presets, generation, storage (The Well's HDF5) and loading.

Builds on ``solvers``. Filled in by the dataset-generation work (issue 3).
"""
