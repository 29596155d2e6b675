"""NeuralStagger: speed and error of staggered sub-solvers against the spectral solver, trained without data.

    python benchmarks/stagger.py                        # NS 64^2 and Burgers 256, CPU size
    python benchmarks/stagger.py --cases ns --epochs 30 --device cuda

For each case and each spatial factor ``s`` in {1, 2, 4} and temporal factor
``s_t`` in {1, 2}, a ``stagger`` around a small FNO (modes capped by the coarse
grid) trains by the PDE residual alone (``task.kind=physics``: initial
conditions drawn on the fly, no simulated data), equal epochs for every
configuration. Then, on a batch of new initial conditions:

- seconds to advance one physical time unit (median of ``--repeats``, after a
  warm-up), beside the spectral solver (ETDRK4, the recipe's step) on the same
  grid and batch;
- relative L2 against the solver over that time unit (mean over frames, last frame).

For ``s = 1, s_t = 1`` the same network also trains on the solver's states
(``task.loss=data``), and both runs' training seconds are reported, so physics and
data training compare at their budgets. Claim tested: at ``s = 4`` the model is
at least 10x faster than at ``s = 1`` with bounded error.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from training.metrics import relative_l2_per_step
from training.run import train

#: frames 0.1 time units apart, solved and stored on the same grid
CASES = {
    "ns": dataclasses.replace(pde_data.preset("ns-fno-1e-3"), t_end=2.0, total_frames=21, solver_resolution=64,
                              resolution=64, max_dt=1e-2, samples={"train": 256, "valid": 32, "test": 32}),
    "burgers": dataclasses.replace(pde_data.preset("burgers-fno"), t_end=1.0, total_frames=11, solver_resolution=256,
                                   resolution=256, max_dt=1e-3, samples={"train": 256, "valid": 32, "test": 32}),
}  # fmt: skip
FACTORS = [(1, 1), (2, 1), (4, 1), (1, 2), (2, 2), (4, 2)]


def train_config(recipe_file: Path, grid: int, space: int, time_levels: int, loss: str, args) -> list[str]:
    modes = min(args.modes, grid // space // 2)  # what the coarse grid holds
    inner = f"{{name: fno, hyperparameters: {{modes: {modes}, width: {args.width}}}}}"
    return [f"data.recipe={recipe_file}", "task.kind=physics", f"task.loss={loss}", f"task.horizon={time_levels}",
            f"task.unroll={max(1, args.unroll // time_levels)}", "task.curriculum_epochs=3", "model.name=stagger",
            f"model.hyperparameters={{inner: {inner}, space: {space}, time: {time_levels}}}",
            f"train.epochs={args.epochs}", f"train.device={args.device}", "data.batch_size=16",
            f"data.samples={args.samples}", "optim.lr=2.0e-3", "schedule.name=cosine"]  # fmt: skip


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
    variants = [(s, t, "residual") for s, t in FACTORS] + [(1, 1, "data")]
    for space, levels, loss in variants:
        label = f"s={space} s_t={levels}" + (" (data)" if loss == "data" else "")
        start = time.perf_counter()
        train(load_config(None, train_config(recipe_file, grid, space, levels, loss, args)), folder / f"{name}-{space}-{levels}-{loss}",
              progress=False, evaluate=False)  # fmt: skip
        train_seconds = time.perf_counter() - start
        surrogate = operators.load(folder / f"{name}-{space}-{levels}-{loss}", device=args.device)
        with torch.no_grad():
            prediction = surrogate.predict(u0[:, None], frames).float()
            seconds = timed(lambda: surrogate.predict(u0[:, None], frames), args.repeats, args.device)  # noqa: B023
        curve = relative_l2_per_step(prediction.cpu(), truth.cpu())
        rows.append({"case": name, "model": label, "space": space, "time": levels, "loss": loss, "grid": grid,
                     "parameters": operators.parameter_count(surrogate.model), "train_seconds": train_seconds,
                     "seconds_per_time_unit": seconds, "speedup_vs_solver": solver_seconds / seconds,
                     "relative_l2_mean": float(curve.mean()), "relative_l2_last": float(curve[-1])})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=256, help="initial conditions per epoch")
    parser.add_argument("--unroll", type=int, default=4, help="fine steps unrolled in training (curriculum)")
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16, help="trajectories advanced together when timing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default="benchmarks/results/stagger.json")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases:
            rows += run_case(name, CASES[name], args, Path(tmp))
            _common.write_json(rows, args.json)  # each finished case is kept
    print(f"device {args.device}, threads {torch.get_num_threads()}, batch {args.batch}, {args.epochs} epochs; "
          "seconds to advance one time unit (median), relative L2 vs the solver over it")  # fmt: skip
    print(
        f"{'case':<8} {'model':<18} {'params':>8} {'train s':>8} {'s/unit':>9} {'vs solver':>9} {'L2 mean':>8} {'L2 last':>8}"
    )
    for r in rows:
        if "space" not in r:
            print(f"{r['case']:<8} {r['model']:<18} {'':>8} {'':>8} {r['seconds_per_time_unit']:>9.4f}")
            continue
        print(f"{r['case']:<8} {r['model']:<18} {r['parameters']:>8,} {r['train_seconds']:>8.1f} "
              f"{r['seconds_per_time_unit']:>9.4f} {r['speedup_vs_solver']:>8.1f}x {r['relative_l2_mean']:>8.4f} "
              f"{r['relative_l2_last']:>8.4f}")  # fmt: skip
    _common.write_json(rows, args.json)
    return rows


if __name__ == "__main__":
    main()
