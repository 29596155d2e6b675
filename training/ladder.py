"""The solver ladder: a suite's own spectral solver at coarser grids and larger steps, scored and timed like
the models, so that a surrogate's speed-up is measured against the cheapest classical solve of equal accuracy.

McGreivy & Hakim (Nature Machine Intelligence 6, 2024, "Weak baselines and reporting biases lead to
overoptimism in machine learning for fluid-related PDEs") found that most published speed-ups vanish
against a solver run at the accuracy the surrogate reaches. The bench therefore reports two speed-ups: against
the data's own solver configuration (far more accurate than any surrogate), and at equal accuracy:

- a **rung** is ``(grid, multiple)``: the recipe's solver on ``grid`` points per axis with a step of about
  ``multiple`` times the data's (the frame interval divided by ``ceil(substeps / multiple)`` steps, so that
  frames still fall on steps). Grids halve from the data's solver grid down to ``MIN_GRID`` points; multiples
  double up to one step per stored frame;
- every rung solves the test trajectories' starting states (the frame the models start from, resampled to its
  grid) over the rollout's horizon, its states are resampled to the data grid with ``fourier_resample`` and
  scored with the leaderboard's rollout relative L2 against the test data (channel 0, the solved field), and
  it is timed at the bench's batch (median of ``repeats``). A rung that blows up (``SolverDivergedError`` or
  non-finite states) is listed as unstable, with an infinite error;
- the data's own configuration (its solver grid, multiple 1) is the **reference** rung: its error is what
  starting from a stored frame (float32, on the data grid) costs, near zero where the data grid resolves the
  solution;
- a model's **speed-up at equal accuracy** (``speedup_at_equal_accuracy``) is the time of the cheapest rung
  whose error is at most the model's, divided by the model's time; when no coarser rung is as accurate, that
  rung is the reference.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pde_data.loading import FileData
from pde_data.presets import Recipe
from solvers.errors import SolverDivergedError
from solvers.resample import fourier_resample
from training.metrics import relative_l2_per_step

#: the coarsest grid a rung may use (points per axis)
MIN_GRID = 8


@dataclass(frozen=True)
class Rung:
    """The recipe's solver on ``grid`` points per axis with ``substeps`` steps per stored-frame interval."""

    grid: int
    substeps: int

    def recipe(self, recipe: Recipe) -> Recipe:
        interval = recipe.t_end * (1 + recipe.time_jitter) / (recipe.total_frames - 1)
        return dataclasses.replace(recipe, solver_resolution=self.grid, max_dt=interval / self.substeps)

    def describe(self, recipe: Recipe) -> str:
        axes = f"^{recipe.ndim}" if recipe.ndim > 1 else ""
        return f"{self.grid}{axes}, {self.substeps} steps per frame"


def rungs(recipe: Recipe, min_grid: int = MIN_GRID) -> list[Rung]:
    """The reference rung first, then every coarser grid and larger step: grids halving from the recipe's solver
    grid to ``min_grid``, steps per stored frame from the recipe's down to one (halving, rounded up)."""
    grids, grid = [], recipe.solver_resolution
    while grid >= min_grid:
        grids.append(grid)
        if grid % 2:
            break
        grid //= 2
    substeps, counts = recipe.substeps(), []
    while True:
        counts.append(substeps)
        if substeps == 1:
            break
        substeps = math.ceil(substeps / 2)
    return [Rung(g, s) for g in grids for s in counts]


def solve_rung(recipe: Recipe, rung: Rung, data: str | Path, samples: list[int], start: int, steps: int,
               stride: int, batch: int, device: str, repeats: int) -> tuple[torch.Tensor | None, list[float]]:  # fmt: skip
    """Rung ``rung`` from stored frame ``start`` of trajectories ``samples`` of ``data``, ``steps`` states
    ``stride`` stored frames apart: the states ``(samples, steps, *data grid)`` (None if it blew up) and the
    seconds of each of ``repeats`` timed solves of a batch of ``batch`` (the samples repeated)."""
    source = FileData(data, split=None)
    nominal = recipe.t_end / (recipe.total_frames - 1)
    initial = torch.stack([source.read(s, [start])[0, 0] for s in samples]).double()
    lengths = torch.tensor([float(source.lengths[s]) for s in samples], dtype=torch.float64)
    factors = torch.tensor([float(np.diff(source.frame_times(s)[:2])[0]) / nominal for s in samples],
                           dtype=torch.float64)  # fmt: skip
    parameters = _parameters(data, samples) if recipe.varying else None
    repeat = math.ceil(batch / len(samples))
    index = torch.arange(len(samples)).repeat(repeat)[:batch]
    rung_recipe = rung.recipe(recipe)
    solver = rung_recipe.build_solver(lengths[index], factors[index], None, device,
                                      [parameters[i] for i in index] if parameters else None)  # fmt: skip
    u0 = fourier_resample(initial[index], rung.grid, recipe.ndim).to(device=solver.device, dtype=solver.dtype)
    seconds, states = [], None
    for _ in range(repeats):
        _synchronize(solver.device)
        begin = time.perf_counter()
        u, trajectory = u0, []
        try:
            for _ in range(steps):
                u = solver.step(u, stride * rung.substeps)
                trajectory.append(u[: len(samples)])
        except SolverDivergedError:
            trajectory = None
        _synchronize(solver.device)
        seconds.append(time.perf_counter() - begin)
        if trajectory is None:
            return None, seconds
        states = trajectory
    stacked = torch.stack(states, dim=1)
    if not bool(torch.isfinite(stacked).all()):
        return None, seconds
    return fourier_resample(stacked.cpu(), source.grid_shape[0], recipe.ndim).float(), seconds


def score_rung(predicted: torch.Tensor | None, data: str | Path, samples: list[int], start: int, steps: int,
               stride: int) -> float:  # fmt: skip
    """The leaderboard's rollout relative L2 of a rung's states against the stored frames (inf if it blew up)."""
    if predicted is None:
        return math.inf
    source = FileData(data, split=None)
    frames = [start + stride * (k + 1) for k in range(steps)]
    target = torch.stack([source.read(s, frames)[:, 0] for s in samples]).float()
    return float(relative_l2_per_step(predicted[:, :, None], target[:, :, None]).mean())


def run_ladder(recipe: Recipe, data: str | Path, samples: list[int], start: int, steps: int, stride: int,
               batch: int, device: str, repeats: int, progress=None) -> list[dict]:  # fmt: skip
    """Every rung of ``recipe`` scored and timed (see the module docstring); rows in ``rungs`` order, each
    ``{grid, substeps, solver, relative_l2_rollout, seconds_per_trajectory, seconds, reference, stable}``."""
    rows = []
    for number, rung in enumerate(rungs(recipe)):
        predicted, seconds = solve_rung(recipe, rung, data, samples, start, steps, stride, batch, device, repeats)
        error = score_rung(predicted, data, samples, start, steps, stride)
        rows.append({"grid": rung.grid, "substeps": rung.substeps, "solver": rung.describe(recipe),
                     "relative_l2_rollout": error, "seconds_per_trajectory": statistics.median(seconds) / batch,
                     "seconds": seconds, "reference": number == 0, "stable": math.isfinite(error)})  # fmt: skip
        if progress is not None:
            progress(rows[-1])
    return rows


def speedup_at_equal_accuracy(error: float, seconds: float, ladder: list[dict]) -> tuple[float | None, dict | None]:
    """The time of the cheapest rung of ``ladder`` whose rollout error is at most ``error``, over ``seconds``
    (a model's time per trajectory), and that rung; the reference rung when no other is as accurate;
    ``(None, None)`` without a ladder or a time."""
    if not ladder or not seconds or error is None or not math.isfinite(error):
        return None, None
    reference = next((r for r in ladder if r["reference"]), None)
    good = [r for r in ladder if r["stable"] and r["relative_l2_rollout"] <= error]
    rung = min(good, key=lambda r: r["seconds_per_trajectory"]) if good else reference
    if rung is None:
        return None, None
    return rung["seconds_per_trajectory"] / seconds, rung


def _parameters(data: str | Path, samples: list[int]) -> list[dict]:
    from training.prediction import sample_parameters

    return sample_parameters(Path(data), samples)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
