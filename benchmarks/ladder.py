"""The solver ladder of a bench suite on its own: the suite's solver at coarser grids and larger steps, scored
against the test data and timed, as ``pdeop bench`` runs it for its speed-up at equal accuracy (``training.bench.ladder``).

    python benchmarks/ladder.py ns-1e-3                     # cpu-small data (generated once into --out)
    python benchmarks/ladder.py ks --tier tiny --repeats 1

Prints the rungs (rollout relative L2 over the rollout's steps from frame 0, seconds per trajectory at batch
64, median of ``--repeats``) and writes JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import _common
import torch

from pde_data.storage import file_recipe
from training.bench import INFERENCE_BATCH, Bench
from training.bench.ladder import run_ladder
from training.evaluation.rollouts import dataset_trajectories
from training.threads import apply_threads


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--tier", default="cpu-small")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="/tmp/pdeop-ladder", help="bench folder whose data is used (or made)")
    parser.add_argument("--json", default=None, help="default: benchmarks/results/ladder-SUITE.json")
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    data = Bench(args.suite, Path(args.out), tier=args.tier, device=args.device, progress=False).data()
    samples, trajectories = dataset_trajectories(data, "test", None)
    steps = trajectories.shape[1] - 1
    print(
        f"{args.suite} ({args.tier}): {len(samples)} test trajectories, {steps} steps from frame 0, batch "
        f"{INFERENCE_BATCH}, {torch.get_num_threads()} thread(s)"
    )
    print(f"{'rung':<34} {'rollout rel. L2':>15} {'s / traj.':>10}")

    def show(row: dict) -> None:
        label = row["solver"] + (" (reference)" if row["reference"] else "")
        print(f"{label:<34} {row['relative_l2_rollout']:>15.3g} {row['seconds_per_trajectory']:>10.3g}", flush=True)

    rows = run_ladder(file_recipe(data), data, samples, 0, steps, 1, INFERENCE_BATCH, args.device, args.repeats, show)
    result = {"suite": args.suite, "tier": args.tier, "threads": torch.get_num_threads(), "rungs": rows}
    _common.write_json(result, args.json or f"benchmarks/results/ladder-{args.suite}.json")
    return rows


if __name__ == "__main__":
    main()
