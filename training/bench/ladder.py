"""The solver ladder: a suite's own spectral solver at coarser grids and larger steps, scored and timed like
the models, so that a surrogate's speed-up is measured against the cheapest classical solve of equal accuracy.

McGreivy & Hakim (Nature Machine Intelligence 6, 2024, "Weak baselines and reporting biases lead to
overoptimism in machine learning for fluid-related PDEs") found that most published speed-ups vanish
against a solver run at the accuracy the surrogate reaches. The bench therefore reports two speed-ups: against
the data's own solver configuration (far more accurate than any surrogate), and at equal accuracy:

- a **rung** is ``(grid, substeps)``: the recipe's solver on ``grid`` points per axis taking ``substeps``
  steps per stored-frame interval (so that frames fall on steps). Grids halve from the data's solver grid
  down to ``MIN_GRID`` points; steps per frame halve (rounded up) from the data's down to one;
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
from pde_data.recipes import Recipe
from solvers.errors import SolverDivergedError
from solvers.resample import fourier_resample
from training.evaluation.metrics import relative_l2_per_step
from training.prediction import sample_parameters

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
        return f"{self.grid}{axes}, {self.substeps} step{'' if self.substeps == 1 else 's'} per frame"


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


@dataclass
class LadderProblem:
    """What every rung solves, read from the data once: the starting states ``(samples, *data grid)`` (stored
    frame ``start``), the samples' lengths, time factors and varying parameters, and the target frames
    ``(samples, steps, *data grid)`` ``stride`` stored frames apart."""

    initial: torch.Tensor
    lengths: torch.Tensor
    factors: torch.Tensor
    parameters: list[dict] | None
    target: torch.Tensor
    stride: int

    @classmethod
    def read(
        cls, recipe: Recipe, data: str | Path, samples: list[int], start: int, steps: int, stride: int
    ) -> LadderProblem:
        source = FileData(data, split=None)
        nominal = recipe.t_end / (recipe.total_frames - 1)
        frames = [start + stride * (k + 1) for k in range(steps)]
        return cls(
            initial=torch.stack([source.read(s, [start])[0, 0] for s in samples]).double(),
            lengths=torch.tensor([float(source.lengths[s]) for s in samples], dtype=torch.float64),
            factors=torch.tensor(
                [float(np.diff(source.frame_times(s)[:2])[0]) / nominal for s in samples], dtype=torch.float64
            ),
            parameters=sample_parameters(Path(data), samples) if recipe.varying else None,
            target=torch.stack([source.read(s, frames)[:, 0] for s in samples]).float(),
            stride=stride,
        )


def solve_rung(
    recipe: Recipe, rung: Rung, problem: LadderProblem, batch: int, device: str, repeats: int
) -> tuple[torch.Tensor | None, list[float]]:
    """Rung ``rung`` on ``problem``: the states ``(samples, steps, *data grid)`` (None if it blew up) and the
    seconds of each of ``repeats`` timed solves of a batch of ``batch`` (the samples repeated)."""
    count, steps = len(problem.initial), problem.target.shape[1]
    index = torch.arange(count).repeat(math.ceil(batch / count))[:batch]
    parameters = [problem.parameters[i] for i in index] if problem.parameters else None
    solver = rung.recipe(recipe).build_solver(problem.lengths[index], problem.factors[index], None, device, parameters)
    u0 = fourier_resample(problem.initial[index], rung.grid, recipe.ndim).to(device=solver.device, dtype=solver.dtype)
    seconds, states = [], None
    for _ in range(repeats):
        _synchronize(solver.device)
        begin = time.perf_counter()
        u, trajectory = u0, []
        try:
            for _ in range(steps):
                u = solver.step(u, problem.stride * rung.substeps)
                trajectory.append(u[:count])
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
    return fourier_resample(stacked.cpu(), problem.target.shape[-1], recipe.ndim).float(), seconds


def score_rung(predicted: torch.Tensor | None, problem: LadderProblem) -> float:
    """The leaderboard's rollout relative L2 of a rung's states against the stored frames (inf if it blew up)."""
    if predicted is None:
        return math.inf
    return float(relative_l2_per_step(predicted[:, :, None], problem.target[:, :, None]).mean())


def run_ladder(
    recipe: Recipe,
    data: str | Path,
    samples: list[int],
    start: int,
    steps: int,
    stride: int,
    batch: int,
    device: str,
    repeats: int,
    progress=None,
) -> list[dict]:
    """Every rung of ``recipe`` scored and timed (see the module docstring) from stored frame ``start`` of the
    trajectories ``samples`` of ``data`` over ``steps`` states ``stride`` frames apart; rows in ``rungs`` order,
    each ``{grid, substeps, solver, relative_l2_rollout, seconds_per_trajectory, seconds, reference, stable}``."""
    problem = LadderProblem.read(recipe, data, samples, start, steps, stride)
    rows = []
    for number, rung in enumerate(rungs(recipe)):
        predicted, seconds = solve_rung(recipe, rung, problem, batch, device, repeats)
        error = score_rung(predicted, problem)
        rows.append(
            {
                "grid": rung.grid,
                "substeps": rung.substeps,
                "solver": rung.describe(recipe),
                "relative_l2_rollout": error,
                "seconds_per_trajectory": statistics.median(seconds) / batch,
                "seconds": seconds,
                "reference": number == 0,
                "stable": math.isfinite(error),
            }
        )
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


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
