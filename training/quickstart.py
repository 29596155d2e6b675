"""``pdeop quickstart``: generate, train, evaluate, predict and plot on a tiny 2D Navier-Stokes problem.

Sized for a laptop CPU (a few minutes on 2 cores); everything lands in one folder.
"""

from __future__ import annotations

import time
from pathlib import Path

import pde_data
from training.config import load_config
from training.evaluation.rollouts import evaluate_surrogate, summary_table
from training.prediction import predict_to_file
from training.run import train

PRESET = "ns-fno-1e-3-tiny"


def quickstart(out: Path, epochs: int = 40, samples: int = 96, device: str = "auto", progress: bool = True) -> dict:
    """Run the pipeline in ``out``; returns the test evaluation report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    data = out / "ns-tiny.h5"
    total = samples + max(4, samples // 4)  # 80 % train, 10 % validation, 10 % test
    if not data.exists():
        print(f"[1/4] generating {total} trajectories of {PRESET} -> {data}")
        pde_data.generate(PRESET, data, total, progress=progress)
    else:
        print(f"[1/4] using the existing {data}")
    print(f"[2/4] training an FNO for {epochs} epochs")
    overrides = [
        f"data.path={data}",
        "data.batch_size=16",
        "model.name=fno",
        "model.hyperparameters={modes: 8, width: 24, layers: 4}",
        f"train.epochs={epochs}",
        f"train.device={device}",
        "optim.lr=3.0e-3",
        "schedule.name=cosine",
        "schedule.warmup_steps=10",
    ]
    config = load_config(None, overrides)
    run_dir = out / "run"
    resume = (run_dir / "checkpoints" / "last.pt").exists()
    trainer, _ = train(config, run_dir, resume=resume, progress=progress, evaluate=False)
    print("[3/4] evaluating rollouts on the test trajectories")
    surrogate = trainer.surrogate()
    report = evaluate_surrogate(surrogate, data, out / "evaluation", split="test")
    print(summary_table(report))
    print("[4/4] predicting the test trajectories and timing the solver on the same horizon")
    test = pde_data.TrajectoryDataset(data, split="test").samples
    timing = predict_to_file(
        run_dir, data, out / "predictions.h5", 4, test, "cpu", None, overwrite=True, progress=progress
    )
    print(timing)
    model, baseline = report["model"]["summary"], report["persistence"]["summary"]
    print(
        f"\nsummary: rollout relative L2 {model['relative_l2_rollout']:.3g} vs persistence "
        f"{baseline['relative_l2_rollout']:.3g} ({compared_with_persistence(model, baseline)}); one-step "
        f"{model['relative_l2_one_step']:.3g}. Plots in {out / 'evaluation'}; total {time.perf_counter() - start:.0f} s."
    )
    return report


def compared_with_persistence(model: dict, baseline: dict) -> str:
    """``"3.2x lower"`` or, for a model worse than persistence, ``"1.3x higher: worse than persistence"``."""
    ours, theirs = model["relative_l2_rollout"], baseline["relative_l2_rollout"]
    if ours <= theirs:
        return f"{theirs / ours:.1f}x lower" if ours > 0 else "exact"
    return f"{ours / theirs:.1f}x higher: worse than persistence"
