"""Controlled experiments on one bench row: the model's bench setup, then one change at a time.

    python benchmarks/ablation.py ns-1e-3 mgno --variant coordinates "model.hyperparameters.coordinates=true"
    python benchmarks/ablation.py ns-1e-3 sinenet --epochs 10 --variant history-4 "data.history=4"

Each variant is the model's ``pdeop bench`` configuration (``training.bench.Bench.config``: the suite's
data at the tier's size, the model's setup) plus the ``--set``-style overrides that name it; ``base``
(no override) is always run first unless ``--no-base``. Every variant trains from the same seed on the
same data and is scored like a leaderboard row (test split, one-step and rollout relative L2, and the
growth of the error over the rollout: rollout over one-step). Finished variants are kept in
``--out`` and not retrained, so a killed experiment resumes. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import _common

import operators
from operators import Generator, as_forecaster
from training.bench import Bench, benchable, scores, setup_of, training_seconds
from training.evaluation.rollouts import evaluate_surrogate
from training.run import train
from training.threads import apply_threads


def run_variant(
    bench: Bench,
    model: str,
    data: Path,
    name: str,
    overrides: list[str],
    epochs: int | None,
    members: int = Generator.members,
) -> dict:
    """Train and score one variant (or read its finished result); a generator's point forecast is the mean of
    ``members`` samples (scored again, without retraining, for each ``--members``)."""
    folder = bench.out / "ablation" / model / name
    result_file = folder / f"result-{members}.json" if model in GENERATORS else folder / "result.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    extra = ([f"train.epochs={epochs}"] if epochs else []) + overrides
    config = bench.config(model, data, extra)
    if model in GENERATORS:
        bench.train_stage(model, data)
    run = folder / "run"
    start = time.perf_counter()
    train(config, run, resume=(run / "checkpoints" / "last.pt").is_file(), progress=False, evaluate=False)
    wall = time.perf_counter() - start
    predictor = as_forecaster(operators.load(run))
    if isinstance(predictor, Generator):
        predictor.members = members
    report = evaluate_surrogate(
        predictor, data, result_file.with_suffix(""), "test", None, None, getattr(predictor, "max_steps", None)
    )
    result = {
        "variant": name if model not in GENERATORS else f"{name}, mean of {members}",
        "overrides": overrides,
        "epochs": config.train.epochs,
        "parameters": operators.parameter_count(predictor.model),
        "train_seconds": training_seconds(run),
        "wall_seconds": wall,
        **scores(report),
    }
    result["growth"] = result["relative_l2_rollout"] / result["relative_l2_one_step"]
    folder.mkdir(parents=True, exist_ok=True)
    result_file.write_text(json.dumps(result, indent=1))
    return result


#: models benched as generators (their point forecast is a mean of samples)
GENERATORS = {name for name in benchable() if setup_of(name).stage is not None}


def table(rows: list[dict]) -> str:
    lines = [
        "| variant | change | parameters | 1-step rel. L2 | rollout rel. L2 | growth | persistence | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        change = "; ".join(f"`{o}`" for o in r["overrides"]) or "(bench setup)"
        lines.append(
            f"| {r['variant']} | {change} | {r['parameters']:,} | {r['relative_l2_one_step']:.4f} | "
            f"{r['relative_l2_rollout']:.4f} | {r['growth']:.1f}x | "
            f"{r['persistence_relative_l2_rollout']:.3f} | {r['train_seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", help="a bench suite (ns-1e-3, burgers, ...)")
    parser.add_argument("model", help="a benchable model")
    parser.add_argument(
        "--variant",
        nargs="+",
        action="append",
        default=[],
        metavar=("NAME", "KEY=VALUE"),
        help="a named variant and its --set overrides (repeatable)",
    )
    parser.add_argument("--no-base", action="store_true", help="skip the unchanged bench setup")
    parser.add_argument("--tier", default="cpu-small")
    parser.add_argument("--epochs", type=int, default=None, help="default: the tier's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--members",
        type=int,
        nargs="+",
        default=[Generator.members],
        help="generators: score the mean of this many samples (several: one row each)",
    )
    parser.add_argument("--out", default="/tmp/pdeop-ablation", help="bench folder (its data is shared)")
    parser.add_argument("--json", default=None, help="default: benchmarks/results/ablation-SUITE-MODEL.json")
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    bench = Bench(args.suite, Path(args.out), tier=args.tier, progress=False)
    data = bench.data()
    variants = ([] if args.no_base else [("base", [])]) + [(v[0], v[1:]) for v in args.variant]
    rows = []
    for name, overrides in variants:
        for members in args.members if args.model in GENERATORS else [Generator.members]:
            rows.append(run_variant(bench, args.model, data, name, overrides, args.epochs, members))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(f"\n{args.suite} {args.tier}, {args.model}, {rows[0]['epochs']} epochs, {args.threads} thread(s)")
    print(table(rows))
    _common.write_json(rows, args.json or f"benchmarks/results/ablation-{args.suite}-{args.model}.json")
    return rows


if __name__ == "__main__":
    main()
