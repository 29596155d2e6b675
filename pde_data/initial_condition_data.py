"""The ``initial-condition`` data mode: initial states drawn on the fly from a recipe, no file needed.

For tasks whose targets do not come from stored trajectories (physics residuals,
solver-in-the-loop training). Sample ``i`` of split ``s`` is drawn exactly as
``pde_data.generate`` draws it (its own generator seeded by
``sample_seed(seed, s, i)``, on the solver grid, then subsampled), so with the same
recipe, seed and split, item ``i`` is frame 0 of trajectory ``i`` of the generated
file (when the recipe stores frame 0).
"""

from __future__ import annotations

import torch

from pde_data.generation import SPLITS, draw_sample, resolve_recipe, sample_seed
from pde_data.parameters import initial_conditions
from pde_data.recipes import Recipe
from solvers.errors import InputError

#: initial conditions drawn to estimate normalisation statistics
STATISTICS_SAMPLES = 32


class InitialConditionDataset(torch.utils.data.Dataset):
    """Initial states of ``recipe``, one per index, drawn when asked for.

    Item ``i`` is a dict with ``u0`` ``(channels=1, *grid)`` (float32, the solved
    field), ``length`` (the sample's domain side), ``time_factor`` (its time-scale
    factor, 1 without jitter), ``coefficients`` (``{name: float}``) and ``sample``.

    Args:
        recipe: a preset name or ``Recipe``.
        n_samples: items per epoch (default the recipe's count for ``split``).
        seed: as for ``pde_data.generate``.
        split: as for ``pde_data.generate``.
        resolution: stored grid points per axis (default the recipe's).
    """

    mode = "initial-condition"

    def __init__(
        self,
        recipe: str | Recipe,
        n_samples: int | None = None,
        seed: int = 0,
        split: str = "train",
        resolution: int | None = None,
    ):
        self.recipe = resolve_recipe(recipe, resolution)
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        n_samples = self.recipe.samples.get(split, 0) if n_samples is None else n_samples
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise InputError(f"the number of samples must be a positive integer, got {n_samples!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"the seed must be an integer >= 0, got {seed!r}")
        self.n_samples, self.seed, self.split = n_samples, seed, split
        self.generators = initial_conditions(self.recipe, self.recipe.solver_resolution)
        self.grid_shape = (self.recipe.resolution,) * self.recipe.ndim
        self.channel_names = [self.recipe.field_name]
        self._statistics: dict[str, torch.Tensor] | None = None

    @property
    def description(self) -> dict:
        """What the data is (``pde_data.recipes.Recipe.summary``)."""
        return self.recipe.summary

    @property
    def channels(self) -> int:
        return 1

    @property
    def samples(self) -> list[int]:
        return list(range(self.n_samples))

    @property
    def statistics(self) -> dict[str, torch.Tensor]:
        """Per-channel ``mean`` and ``std`` of the first few initial conditions (no trajectories exist)."""
        if self._statistics is None:
            draws = torch.stack([self[i]["u0"] for i in range(min(self.n_samples, STATISTICS_SAMPLES))]).double()
            values = draws.transpose(0, 1).flatten(1)
            self._statistics = {"mean": values.mean(1).float(), "std": values.std(1).clamp_min(1e-12).float()}
        return {key: value.clone() for key, value in self._statistics.items()}

    def __len__(self) -> int:
        return self.n_samples

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} initial conditions")
        index %= len(self)
        u0, length_factor, time_factor, values = draw_sample(
            self.recipe, self.generators, sample_seed(self.seed, self.split, index)
        )
        step = self.recipe.solver_resolution // self.recipe.resolution
        u0 = u0[(*(slice(None, None, step),) * self.recipe.ndim,)]
        return {
            "u0": u0.float()[None],
            "length": self.recipe.length * length_factor,
            "time_factor": time_factor,
            "coefficients": {k: float(v) for k, v in self.recipe.coefficients.items()}
            | {k: float(values[k]) for k in self.recipe.coefficients_varying},
            "parameters": values,
            "sample": index,
        }
