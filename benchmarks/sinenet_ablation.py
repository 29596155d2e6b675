"""SineNet ablation: waves K at one parameter budget, and circular vs zero padding, on 2D Navier-Stokes.

    python benchmarks/sinenet_ablation.py               # 32^2 tiny NS, CPU, a few minutes
    python benchmarks/sinenet_ablation.py --full --device cuda --preset ns-fno-1e-5   # hidden 64 budget (GPU)

For each K the width multiplier is chosen by ``param_match`` so that every model
has (nearly) the same number of parameters. All models get periodic coordinate
channels: the FNO Navier-Stokes data is forced by a fixed pattern that a purely
translation-equivariant network cannot place (see operators/embedding.py).
Reports one-step and rollout relative L2 on the test split, parameters and
seconds per epoch; writes JSON.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common

import operators
import pde_data
from operators.models.sinenet import param_match, parameter_count
from training.config import load_config
from training.evaluation.rollouts import evaluate_surrogate
from training.run import train


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="ns-fno-1e-3-tiny")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--waves", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--full", action="store_true", help="hidden 64 and the published SineNet-2 budget")
    parser.add_argument("--json", default="benchmarks/results/sinenet_ablation.json")
    args = parser.parse_args(argv)
    hidden = 64 if args.full else 8
    # the budget: SineNet-2 at mult 1.8075 (the published family's K = 2 member) for this hidden width
    budget = parameter_count(1 + 4, 1, hidden, 2, 1.8075)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = pde_data.generate(args.preset, folder / "ns.h5", args.samples, progress=False, device=args.device)
        for waves in args.waves:
            mult = param_match(budget, waves, 1 + 4, 1, hidden)
            for padding in ("circular", "zeros"):
                hp = f"{{hidden: {hidden}, waves: {waves}, mult: {mult}, padding: {padding}, coordinates: true}}"
                settings = [
                    f"data.path={data}",
                    "model.name=sinenet",
                    f"model.hyperparameters={hp}",
                    f"train.epochs={args.epochs}",
                    f"train.device={args.device}",
                    "data.batch_size=8",
                    "optim.lr=2.0e-3",
                    "schedule.name=cosine",
                ]
                run = folder / f"k{waves}-{padding}"
                start = time.perf_counter()
                train(load_config(None, settings), run, progress=False, evaluate=False)
                seconds = time.perf_counter() - start
                surrogate = operators.Surrogate.load(run, device=args.device)
                report = evaluate_surrogate(surrogate, data, folder / f"{run.name}-eval", split="test")
                rows.append(
                    {
                        "waves": waves,
                        "mult": mult,
                        "padding": padding,
                        "parameters": operators.parameter_count(surrogate.model),
                        "one_step_relative_l2": report["model"]["summary"]["relative_l2_one_step"],
                        "rollout_relative_l2": report["model"]["summary"]["relative_l2_rollout"],
                        "persistence_rollout_relative_l2": report["persistence"]["summary"]["relative_l2_rollout"],
                        "seconds_per_epoch": seconds / args.epochs,
                    }
                )
                print(rows[-1], flush=True)
    print(
        f"{args.preset}, {args.samples} trajectories, {args.epochs} epochs, hidden {hidden}, budget {budget:,} parameters"
    )
    print(f"{'K':>2} {'mult':>7} {'padding':<9} {'params':>8} {'1-step L2':>10} {'rollout L2':>11} {'s/epoch':>8}")
    for r in rows:
        print(
            f"{r['waves']:>2} {r['mult']:>7.4f} {r['padding']:<9} {r['parameters']:>8,} {r['one_step_relative_l2']:>10.4f} "
            f"{r['rollout_relative_l2']:>11.4f} {r['seconds_per_epoch']:>8.2f}"
        )
    _common.write_json(rows, args.json)
    return rows


if __name__ == "__main__":
    main()
