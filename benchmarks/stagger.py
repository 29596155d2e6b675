"""NeuralStagger: speed and error of staggered sub-solvers against the spectral solver, trained without data.

    python benchmarks/stagger.py                        # NS 64^2 and Burgers 256, CPU size
    python benchmarks/stagger.py --cases ns --epochs 30 --device cuda
    python benchmarks/stagger.py --runs-dir benchmarks/results/stagger-runs   # keep runs; a rerun only times

For each case and each spatial factor ``s`` in {1, 2, 4} and temporal factor
``s_t`` in {1, 2}, a ``stagger`` around a small FNO (modes capped by the coarse
grid) trains by the PDE residual alone (``task.kind=physics``: initial
conditions drawn on the fly, no simulated data), equal epochs for every
configuration; at ``s = 4`` also with a light sub-solver (``--light-width``), the
form in which staggering cuts arithmetic instead of only splitting it. Then, on
a batch of new initial conditions:

- seconds to advance one physical time unit, batched on one device (every
  sub-solver in one call), and under perfect parallelism (one worker per
  sub-task: ``frames / s_t`` calls of one sub-task, ``Stagger.subtask``; shuffles
  and communication not counted), medians of ``--repeats`` after a warm-up,
  beside the spectral solver (ETDRK4, the recipe's step) on the same grid and
  batch;
- relative L2 against the solver over that time unit (mean over frames, last frame).

For ``s = 1, s_t = 1`` the same network also trains on the solver's states
(``task.loss=data``, the solver run on the fly, so its cost is in the budget),
once at equal epochs and once at the physics run's wall-clock time (epochs
scaled by the measured seconds per epoch). Claim tested: at ``s = 4`` the model
is at least 10x faster than at ``s = 1`` with bounded error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import _common
import torch

import operators
import pde_data
from pde_data.initial_condition_data import InitialConditionDataset
from training.config import load_config
from training.evaluation.metrics import relative_l2_per_step
from training.run import train

#: frames 0.1 time units apart, solved and stored on the same grid
CASES = {
    "ns": dataclasses.replace(
        pde_data.preset("ns-fno-1e-3"),
        t_end=2.0,
        total_frames=21,
        solver_resolution=64,
        resolution=64,
        max_dt=1e-2,
        samples={"train": 256, "valid": 32, "test": 32},
    ),
    "burgers": dataclasses.replace(
        pde_data.preset("burgers-fno"),
        t_end=1.0,
        total_frames=11,
        solver_resolution=256,
        resolution=256,
        max_dt=1e-3,
        samples={"train": 256, "valid": 32, "test": 32},
    ),
}
FACTORS = [(1, 1), (2, 1), (4, 1), (1, 2), (2, 2), (4, 2)]


@dataclasses.dataclass(frozen=True)
class Variant:
    space: int
    time: int
    width: int
    loss: str = "residual"
    epochs: int | None = None  # None: --epochs

    def label(self, args) -> str:
        light = f" w={self.width}" if self.width != args.width else ""
        data = f" (data, {self.epochs or args.epochs} epochs)" if self.loss == "data" else ""
        return f"s={self.space} s_t={self.time}{light}{data}"

    def folder(self, name: str, args) -> str:
        return f"{name}-s{self.space}-t{self.time}-w{self.width}-{self.loss}-e{self.epochs or args.epochs}"


def train_config(recipe_file: Path, grid: int, variant: Variant, args) -> list[str]:
    modes = min(args.modes, grid // variant.space // 2)  # what the coarse grid holds
    inner = f"{{name: fno, hyperparameters: {{modes: {modes}, width: {variant.width}}}}}"
    return [
        f"data.recipe={recipe_file}",
        "task.kind=physics",
        f"task.loss={variant.loss}",
        f"task.horizon={variant.time}",
        f"task.unroll={max(1, args.unroll // variant.time)}",
        "task.curriculum_epochs=3",
        "model.name=stagger",
        f"model.hyperparameters={{inner: {inner}, space: {variant.space}, time: {variant.time}}}",
        f"train.epochs={variant.epochs or args.epochs}",
        f"train.device={args.device}",
        "data.batch_size=16",
        f"data.samples={args.samples}",
        "optim.lr=2.0e-3",
        "schedule.name=cosine",
    ]


def timed(function, repeats: int, device: str) -> float:
    function()  # warm-up
    seconds = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def trained(recipe_file: Path, grid: int, variant: Variant, run: Path, args) -> float:
    """Train ``variant`` into ``run`` (or reuse a finished run there); its training seconds."""
    record = run / "benchmark_train_seconds.json"
    if record.exists():
        return json.loads(record.read_text())["train_seconds"]
    shutil.rmtree(run, ignore_errors=True)  # an unfinished run: train again from the start
    start = time.perf_counter()
    train(load_config(None, train_config(recipe_file, grid, variant, args)), run, progress=False, evaluate=False)
    seconds = time.perf_counter() - start
    record.write_text(json.dumps({"train_seconds": seconds}))
    return seconds


def variants(args) -> list[Variant]:
    chosen = [Variant(s, t, args.width) for s, t in FACTORS]
    chosen += [Variant(4, t, args.light_width) for t in (1, 2) if args.light_width != args.width]
    return [*chosen, Variant(1, 1, args.width, "data")]


def run_case(name: str, recipe, args, folder: Path) -> list[dict]:
    recipe_file = folder / f"{name}.json"
    recipe_file.write_text(recipe.to_json())
    grid = recipe.resolution
    frames = round(1.0 / (recipe.t_end / (recipe.total_frames - 1)))  # frames in one time unit
    test = InitialConditionDataset(recipe, args.batch, seed=7, split="test")
    u0 = torch.stack([test[i]["u0"] for i in range(args.batch)]).to(args.device)
    solver = recipe.build_solver(torch.ones(args.batch), torch.ones(args.batch), torch.float32, args.device)
    substeps = recipe.substeps()

    def solve():
        u, states = u0[:, 0], []
        for _ in range(frames):
            u = solver.step(u, substeps)
            states.append(u)
        return torch.stack(states, dim=1)[:, :, None]

    truth = solve().float()
    solver_seconds = timed(solve, args.repeats, args.device)
    rows = [{"case": name, "model": "solver (ETDRK4)", "seconds_per_time_unit": solver_seconds, "grid": grid}]
    todo, train_seconds = variants(args), {}
    while todo:
        variant = todo.pop(0)
        seconds = trained(recipe_file, grid, variant, folder / variant.folder(name, args), args)
        train_seconds[variant] = seconds
        if variant.loss == "data" and variant.epochs is None:  # then the same network at the physics run's time
            physics = train_seconds[Variant(1, 1, args.width)]
            epochs = max(1, round(args.epochs * physics / seconds))
            if epochs != args.epochs:
                todo.append(dataclasses.replace(variant, epochs=epochs))
        rows.append(
            scored(name, variant, folder / variant.folder(name, args), u0, truth, frames, args)
            | {"train_seconds": seconds, "speedup_vs_solver": None}
        )
        rows[-1]["speedup_vs_solver"] = solver_seconds / rows[-1]["seconds_per_time_unit"]
    return rows


def scored(name: str, variant: Variant, run: Path, u0: torch.Tensor, truth: torch.Tensor, frames: int, args) -> dict:
    """Error and timings of a trained variant on ``u0`` over ``frames`` frames."""
    surrogate = operators.load(run, device=args.device)
    model = surrogate.model
    with torch.no_grad():
        prediction = surrogate.predict(u0[:, None], frames).float()
        seconds = timed(lambda: surrogate.predict(u0[:, None], frames), args.repeats, args.device)
        calls = -(-frames // variant.time)
        one_task = timed(lambda: model.subtask(u0, 0), args.repeats, args.device)
    curve = relative_l2_per_step(prediction.cpu(), truth.cpu())
    return {
        "case": name,
        "model": variant.label(args),
        "space": variant.space,
        "time": variant.time,
        "width": variant.width,
        "loss": variant.loss,
        "epochs": variant.epochs or args.epochs,
        "grid": u0.shape[-1],
        "parameters": operators.parameter_count(model),
        "seconds_per_time_unit": seconds,
        "parallel_seconds_per_time_unit": calls * one_task,
        "workers": model.tasks,
        "relative_l2_mean": float(curve.mean()),
        "relative_l2_last": float(curve[-1]),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=256, help="initial conditions per epoch")
    parser.add_argument("--unroll", type=int, default=4, help="fine steps unrolled in training (curriculum)")
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--light-width", type=int, default=8, help="the light sub-solver's width at s = 4")
    parser.add_argument("--batch", type=int, default=16, help="trajectories advanced together when timing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs-dir", type=Path, default=None, help="keep the trained runs here and reuse them")
    parser.add_argument("--json", default="benchmarks/results/stagger.json")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.runs_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for name in args.cases:
            rows += run_case(name, CASES[name], args, folder)
            _common.write_json(rows, args.json)  # each finished case is kept
    print(
        f"device {args.device}, threads {torch.get_num_threads()}, batch {args.batch}, {args.epochs} epochs; "
        "seconds to advance one time unit (median; batched on one device, and one worker per sub-task), "
        "relative L2 vs the solver over it"
    )
    print(
        f"{'case':<8} {'model':<32} {'params':>9} {'train s':>8} {'s/unit':>9} {'parallel':>9} {'vs solver':>9} "
        f"{'L2 mean':>8} {'L2 last':>8}"
    )
    for r in rows:
        if "space" not in r:
            print(f"{r['case']:<8} {r['model']:<32} {'':>9} {'':>8} {r['seconds_per_time_unit']:>9.4f}")
            continue
        print(
            f"{r['case']:<8} {r['model']:<32} {r['parameters']:>9,} {r['train_seconds']:>8.1f} "
            f"{r['seconds_per_time_unit']:>9.4f} {r['parallel_seconds_per_time_unit']:>9.4f} "
            f"{r['speedup_vs_solver']:>8.1f}x {r['relative_l2_mean']:>8.4f} {r['relative_l2_last']:>8.4f}"
        )
    _common.write_json(rows, args.json)
    return rows


if __name__ == "__main__":
    main()
