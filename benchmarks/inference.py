"""Inference speed of trained surrogates: seconds per trajectory for each run at batch 1 and 64, in
fp32 and bf16 autocast, and optionally compiled with ``torch.compile``.

    python benchmarks/inference.py --runs benchmarks/results/bench-ns-1e-3/models    # a bench's models
    python benchmarks/inference.py --runs RUN_DIR ... --compile --device cuda

Every run folder under ``--runs`` (a folder holding ``checkpoints/best.pt``, or a bench's
``models/<name>/run``) is loaded with ``operators.load`` and rolled out ``--steps`` steps from random
states of its training grid, after one warm-up call; median of ``--repeats``. ``bf16`` also reports
the relative L2 of its rollout against fp32 (what the speed costs in accuracy); ``compile`` wraps the
model in ``torch.compile`` and times after the compilation (the compile time is reported apart).
Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import _common
import torch

import operators
from training.evaluation.metrics import relative_l2


def run_folders(roots: list[Path]) -> list[Path]:
    found = []
    for root in roots:
        if (root / "checkpoints" / "best.pt").is_file():
            found.append(root)
        found += sorted(p.parent.parent for p in root.glob("*/run/checkpoints/best.pt"))
    return found


def timed(call, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        call()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(run: Path, args) -> list[dict]:
    surrogate = operators.load(run, device=args.device)
    if not isinstance(surrogate, operators.Surrogate):
        return []  # observers and generators have their own sampling loops
    grid = tuple(surrogate.metadata["grid"])
    channels = len(surrogate.mean)
    rows = []
    for batch in args.batches:
        u0 = torch.randn(batch, surrogate.history, channels, *grid, generator=torch.Generator().manual_seed(0))
        u0 = u0 * surrogate.std.reshape(1, 1, -1, *(1,) * len(grid)) + surrogate.mean.reshape(
            1, 1, -1, *(1,) * len(grid)
        )
        reference = surrogate.predict(u0, args.steps)
        for precision in args.precisions:
            prediction = surrogate.predict(u0, args.steps, precision)
            seconds = timed(lambda: surrogate.predict(u0, args.steps, precision), args.repeats, surrogate.device)  # noqa: B023
            rows.append(
                {
                    "run": str(run),
                    "model": surrogate.metadata.get("model", run.parent.name),
                    "batch": batch,
                    "precision": precision,
                    "compiled": False,
                    "seconds_per_trajectory": seconds / batch,
                    "relative_l2_vs_fp32": float(relative_l2(prediction.cpu(), reference.cpu())),
                }
            )
    if args.compile:
        model = surrogate.model
        start = time.perf_counter()
        surrogate.model = torch.compile(model)
        for batch in args.batches:
            u0 = torch.randn(batch, surrogate.history, channels, *grid, generator=torch.Generator().manual_seed(0))
            surrogate.predict(u0, 1)  # compiles
            compile_seconds = time.perf_counter() - start
            seconds = timed(lambda: surrogate.predict(u0, args.steps), args.repeats, surrogate.device)  # noqa: B023
            rows.append(
                {
                    "run": str(run),
                    "model": surrogate.metadata.get("model", run.parent.name),
                    "batch": batch,
                    "precision": "fp32",
                    "compiled": True,
                    "seconds_per_trajectory": seconds / batch,
                    "compile_seconds": compile_seconds,
                }
            )
            start = time.perf_counter()
        surrogate.model = model
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "bf16", "fp16"], default=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd models (fp32)")
    parser.add_argument("--json", default="benchmarks/results/inference.json")
    args = parser.parse_args(argv)
    runs = run_folders(args.runs)
    print(f"{args.device}, {torch.get_num_threads()} torch threads, {args.steps} steps, median of {args.repeats}")
    print(f"{'model':<14} {'batch':>5} {'precision':<9} {'compiled':<8} {'s / trajectory':>14} {'rel. L2 vs fp32':>15}")
    rows = []
    for run in runs:
        for row in measure(run, args):
            rows.append(row)
            error = row.get("relative_l2_vs_fp32")
            print(
                f"{row['model']:<14} {row['batch']:>5} {row['precision']:<9} {row['compiled']!s:<8} "
                f"{row['seconds_per_trajectory']:>14.3e} {'-' if error is None else f'{error:.2e}':>15}",
                flush=True,
            )
    _common.write_json({"threads": torch.get_num_threads(), "steps": args.steps, "rows": rows}, args.json)
    return rows


if __name__ == "__main__":
    main()
