"""``pdeop predict``: roll a trained surrogate out from a dataset's first frames, save, and time it against the solver."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from operators.surrogate import Surrogate, timed_predict
from pde_data.loading import FileData
from pde_data.presets import Recipe
from solvers import fourier_resample
from solvers.errors import InputError
from training.evaluation import write_predictions


def solver_seconds(recipe: Recipe, states: torch.Tensor, frames: int, device: str) -> tuple[float, str]:
    """Seconds the recipe's solver takes to advance ``states`` (stored grid) by ``frames`` stored-frame intervals."""
    batch = states.shape[0]
    ones = torch.ones(batch, dtype=torch.float64)
    solver = recipe.build_solver(recipe.length * ones, ones, None, device)
    u = fourier_resample(states.double(), recipe.solver_resolution, recipe.ndim)
    u = u.to(device=solver.device, dtype=solver.dtype)
    steps = frames * recipe.substeps()
    solver.step(u, 1)  # warm-up
    if solver.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    solver.step(u, steps)
    if solver.device.type == "cuda":
        torch.cuda.synchronize()
    grid = f"{recipe.solver_resolution}" + ("^2" if recipe.ndim == 2 else "")
    return time.perf_counter() - start, f"ETDRK4 on {grid}, {steps} steps"


def predict_to_file(
    run: Path,
    data: Path,
    out: Path,
    steps: int,
    samples: list[int] | None = None,
    device: str = "cpu",
    precision: str | None = None,
    overwrite: bool = False,
) -> str:
    """Predict ``steps`` states for ``samples`` of ``data``; write them to ``out``; return a timing summary."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"--steps must be a positive integer, got {steps!r}")
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.resolve().is_dir():
        raise InputError(f"cannot write {out}: folder {out.parent} does not exist")
    surrogate = Surrogate.load(run, device)
    stride = int(surrogate.metadata.get("stride", 1))
    source = FileData(data)
    recipe, count = source.recipe, len(source.samples)
    chosen = list(range(count)) if not samples else samples
    bad = [i for i in chosen if not 0 <= i < count]
    if bad:
        raise InputError(f"sample {bad[0]} is out of range: {data} has {count} trajectories")
    needed = (surrogate.history - 1) * stride + 1
    if source.frames < needed:
        raise InputError(f"{data} has {source.frames} frames; the surrogate needs {needed} to start")
    given = torch.stack([source.read(i, slice(0, needed, stride)) for i in chosen])
    prediction, seconds = timed_predict(surrogate, given, 1, precision)  # warm-up
    prediction, seconds = timed_predict(surrogate, given, steps, precision)
    write_predictions(
        out, data, chosen, prediction.cpu(), needed - 1 + stride, stride, surrogate.model.pdeop_spec["name"]
    )
    # the solver advances the solved field, channel 0 in The Well's order
    solver_time, solver_text = solver_seconds(recipe, given[:, -1, 0], steps * stride, device)
    per_sample, solver_per_sample = seconds / len(chosen), solver_time / len(chosen)
    return (
        f"wrote {out}: {len(chosen)} trajectories x {steps} states\n"
        f"surrogate: {1e3 * per_sample:.2f} ms per trajectory (batch {len(chosen)}, {device})\n"
        f"solver:    {1e3 * solver_per_sample:.2f} ms per trajectory ({solver_text}, same horizon, same batch)\n"
        f"speed-up:  {solver_per_sample / per_sample:.1f}x"
    )
