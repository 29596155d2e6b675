"""``pdeop predict``: roll a trained surrogate out from a dataset's first frames, stream it to a file, time it.

Long rollouts are predicted and written in pieces (memory holds one piece), with a
progress bar. The solver comparison times the recipe's solver over at most
``solver_frames`` frame intervals and scales linearly to the rollout's length (the
solver's cost per step is constant), or is skipped.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm.auto import tqdm

import operators
from operators.predictors.forecaster import as_forecaster
from pde_data.loading import FileData
from pde_data.recipes import Recipe
from pde_data.sources import open_source
from pde_data.storage import exclusive_output, read_parameters
from solvers import fourier_resample
from solvers.device import resolve_device
from solvers.errors import InputError
from training.evaluation.rollouts import write_predictions

#: bytes of predicted states held in memory at once
PIECE_BYTES = 64 * 2**20
#: frame intervals the solver is timed over at most (then scaled to the rollout)
SOLVER_FRAMES = 50


def solver_seconds(
    recipe: Recipe, states: torch.Tensor, frames: int, device: torch.device, parameters: list[dict] | None = None
) -> tuple[float, str]:
    """Seconds the recipe's solver takes to advance ``states`` (stored grid) by ``frames`` stored-frame intervals
    (``parameters``: each sample's varying values, for recipes with ``varying`` ones)."""
    batch = states.shape[0]
    ones = torch.ones(batch, dtype=torch.float64)
    solver = recipe.build_solver(recipe.length * ones, ones, None, str(device), parameters)
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
    grid = f"{recipe.solver_resolution}" + (f"^{recipe.ndim}" if recipe.ndim > 1 else "")
    return time.perf_counter() - start, f"ETDRK4 on {grid}, {steps} steps"


def sample_parameters(data: Path, samples: list[int]) -> list[dict]:
    """The stored varying parameters of trajectories ``samples`` of a dataset file, one dict each."""
    with h5py.File(data, "r") as f:
        columns = read_parameters(f)
    return [{name: column[i] for name, column in columns.items()} for i in samples]


def _timed(pieces, device: torch.device, clock: list[float]):
    """Pass the pieces through, adding the seconds spent producing them to ``clock[0]``."""
    iterator = iter(pieces)
    while True:
        start = time.perf_counter()
        try:
            piece = next(iterator)
        except StopIteration:
            return
        if device.type == "cuda":
            torch.cuda.synchronize()
        clock[0] += time.perf_counter() - start
        yield piece


def check_room(out: Path, needed: int, steps: int) -> None:
    """InputError when the ``needed`` bytes of predictions would not fit on the disk that holds ``out`` (the
    file is streamed, so memory is no limit; a disk filled to the brim is)."""
    free = shutil.disk_usage(Path(out).resolve().parent).free
    if needed > free:
        raise InputError(
            f"--steps {steps} would write {human_bytes(needed)} to {out}, more than the {human_bytes(free)} free on "
            "its disk: predict fewer steps or fewer --sample trajectories"
        )


def human_bytes(count: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    if count < 1024:
        return f"{count:.0f} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        count /= 1024
        if count < 1024:
            return f"{count:.1f} {unit}"
    return f"{count / 1024:.1f} TiB"


def predict_to_file(
    run: Path,
    data: Path,
    out: Path,
    steps: int,
    samples: list[int] | None = None,
    device: str = "cpu",
    precision: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    solver_frames: int | None = SOLVER_FRAMES,
    other_grids: str | None = None,
    fast_inference: bool = True,
) -> str:
    """Predict ``steps`` states for ``samples`` of ``data``, stream them to ``out``, return a timing summary.

    ``solver_frames``: time the solver over at most this many stored-frame intervals
    (``None``: skip the solver comparison). ``other_grids``: ``Surrogate.on_other_grids``; ``fast_inference``:
    ``Surrogate.fast_inference`` (other forecasters have no such setting). ``run`` holds any
    forecaster (``operators.Forecaster``): a surrogate, an observer (from its last state), a first-frame generator.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"--steps must be a positive integer, got {steps!r}")
    if not open_source(data).generated:
        raise InputError(
            f"{data} is The Well's data: pdeop predict writes files beside pdeop's own datasets and "
            f"times their solver; roll out and score this data with pdeop evaluate RUN --data {data}"
        )
    with exclusive_output(out, overwrite, "predicting to") as out:
        return _predict_to_locked_file(
            run,
            data,
            out,
            steps,
            samples,
            device,
            precision,
            overwrite,
            progress,
            solver_frames,
            other_grids,
            fast_inference,
        )


def _predict_to_locked_file(
    run, data, out, steps, samples, device, precision, overwrite, progress, solver_frames, other_grids, fast_inference
) -> str:
    device = resolve_device(device)
    surrogate = as_forecaster(operators.load(run, device))
    if other_grids is not None:
        if not hasattr(surrogate, "on_other_grids"):
            raise InputError(f"--other-grids is for surrogates; {run} holds a {type(surrogate).__name__}")
        surrogate = surrogate.on_other_grids(other_grids)
    if hasattr(surrogate, "fast_inference"):
        surrogate.fast_inference(fast_inference)
    stride = int(surrogate.metadata.get("stride", 1))
    first = int(surrogate.metadata.get("first_frame", 0))
    source = FileData(data)
    recipe, count = source.recipe, len(source.samples)
    chosen = list(range(count)) if not samples else samples
    bad = [i for i in chosen if not 0 <= i < count]
    if bad:
        raise InputError(f"sample {bad[0]} is out of range: {data} has {count} trajectories")
    needed = first + (surrogate.history - 1) * stride + 1
    if source.frames < needed:
        raise InputError(f"{data} has {source.frames} frames; the surrogate needs {needed} to start")
    given = torch.stack([source.read(i, slice(first, needed, stride)) for i in chosen])
    check_room(out, 4 * len(chosen) * steps * int(np.prod(given.shape[2:])), steps)
    finite = torch.isfinite(given).flatten(1).all(dim=1)
    if not bool(finite.all()):
        raise InputError(f"the first frames of sample {chosen[int((~finite).nonzero()[0])]} in {data} are not finite")
    surrogate.predict(given, 1, precision)  # warm-up
    state_bytes = 4 * len(chosen) * int(np.prod(given.shape[2:]))
    piece_steps = max(1, PIECE_BYTES // state_bytes)
    clock = [0.0]
    # a surrogate streams long rollouts in pieces; another forecaster predicts them at once
    chunks = getattr(surrogate, "predict_chunks", None)
    stream = (
        chunks(given, steps, piece_steps, precision) if chunks else iter([surrogate.predict(given, steps, precision)])
    )
    pieces = _timed(stream, device, clock)
    with tqdm(total=steps, unit="state", desc=f"predict -> {out.name}", disable=not progress) as bar:

        def counted(stream):
            for piece in stream:
                bar.update(piece.shape[1])
                yield piece

        write_predictions(
            out,
            data,
            chosen,
            counted(pieces),
            needed - 1 + stride,
            stride,
            surrogate.model.pdeop_spec["name"],
            steps,
            replace=overwrite,
        )
    per_sample = clock[0] / len(chosen)
    lines = [
        f"wrote {out}: {len(chosen)} trajectories x {steps} states",
        f"surrogate: {1e3 * per_sample:.2f} ms per trajectory (batch {len(chosen)}, {device})",
    ]
    if solver_frames is not None:
        frames = min(steps * stride, solver_frames)
        # the solver advances the solved field, channel 0 in The Well's order
        values = sample_parameters(data, chosen) if recipe.varying else None
        solver_time, solver_text = solver_seconds(recipe, given[:, -1, 0], frames, device, values)
        solver_per_sample = solver_time / len(chosen) * (steps * stride / frames)
        scaled = "" if frames == steps * stride else f", timed over {frames} of {steps * stride} frames and scaled"
        lines.append(f"solver:    {1e3 * solver_per_sample:.2f} ms per trajectory ({solver_text}{scaled})")
        lines.append(f"speed-up:  {solver_per_sample / per_sample:.1f}x")
    return "\n".join(lines)
