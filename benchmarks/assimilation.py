"""Data assimilation: the semilinear observer against the EnKF, nudging and forecast-only, on KS, KdV and NS.

    python benchmarks/assimilation.py                          # CPU size, all three equations
    python benchmarks/assimilation.py --cases ks --epochs 20   # one equation, quicker

For each equation (the tiny presets: KS and KdV on 64 points, forced NS on
32^2 with 11 frames) an observer is trained (``task.kind=observer``: 6
observed frames, 4 forecast frames, its default random sensors (10 %) and
noise (5 %) per trajectory).
Then, on the test trajectories, for each sensor density and noise level:

- ``observer``: assimilation from the training-mean guess, then forecast;
- ``forecast-only``: the same network without corrections (the paper's alpha = 0);
- ``enkf``: stochastic EnKF with the spectral solver as its model, ``--members``
  members drawn from training frames (a climatological ensemble), inflation 1.05,
  Gaspari-Cohn localisation (radius a tenth of the domain);
- ``nudging``: relaxation 0.5 at the sensors, from the ensemble's mean, the solver between frames.

Reported: relative L2 during the observation window and after it, the error
per frame (JSON and a plot per case), and the wall time per assimilation step
(one frame for all test trajectories; the EnKF's solver steps included).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import tempfile
import time
from pathlib import Path

import _common
import numpy as np
import torch

import operators
import pde_data
from pde_data.loading import FileData
from pde_data.observations import ObservationModel
from solvers.assimilation import ensemble_kalman_filter, gaspari_cohn, nudging, periodic_distances
from training.config import load_config
from training.evaluation.figures import _figure
from training.evaluation.metrics import relative_l2_per_step
from training.run import train

#: the tiny presets; NS with 11 frames one time unit apart (the tiny preset stores 5)
CASES = {
    "ks": pde_data.preset("ks-lpsda-tiny"),
    "kdv": pde_data.preset("kdv-lpsda-tiny"),
    "ns": dataclasses.replace(pde_data.preset("ns-fno-1e-3-tiny"), t_end=10.0, total_frames=11),
}
WARMUP, HORIZON = 6, 4  # fits the 11 stored frames of the KdV and NS cases
NETWORK = "{name: fno, hyperparameters: {modes: 12, width: 24, layers: 3}}"


def solver_advance(data: FileData, sample: int):
    """``advance(states)``: the recipe's solver over one stored-frame interval of trajectory ``sample``."""
    recipe = data.recipe
    times = np.asarray(data.frame_times(sample), dtype=float)
    base = recipe.t_end / (recipe.total_frames - 1)
    factor = torch.tensor([(times[1] - times[0]) / base])
    length = torch.tensor([float(data.lengths[sample])])
    solver = recipe.with_resolution(data.grid_shape[0]).build_solver(length, factor, torch.float64, "cpu")
    substeps = recipe.substeps()
    return lambda states: solver.step(states.double(), substeps)  # (members, *grid), solved on the stored grid


def run_case(name: str, preset: str, args, folder: Path) -> list[dict]:
    data_path = pde_data.generate(preset, folder / f"{name}.h5", args.trajectories, progress=False)
    run = folder / f"{name}-observer"
    settings = [
        f"data.path={data_path}",
        "model.name=semilinear-observer",
        "task.kind=observer",
        f"model.hyperparameters={{inner: {NETWORK}, gain_network: {NETWORK}}}",
        f"train.epochs={args.epochs}",
        "data.batch_size=8",
        "optim.lr=2.0e-3",
        "train.eval_trajectories=2",
        f"task.warmup={WARMUP}",
        f"task.horizon={HORIZON}",
    ]
    start = time.perf_counter()
    train(load_config(None, settings), run, progress=False, evaluate=False)
    train_seconds = time.perf_counter() - start
    observer = operators.load(run)
    warmup, horizon = observer.metadata["warmup"], observer.metadata["horizon"]
    test, train_data = FileData(data_path, split="test"), FileData(data_path, split="train")
    frames = warmup + horizon
    truth = torch.stack([test.read(s, slice(0, frames)) for s in test.samples]).double()  # (S, T, 1, *grid)
    pool = torch.cat([train_data.read(s) for s in train_data.samples[: args.members]])  # climatology frames
    ensemble = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))[: args.members], 0].double()
    grid = tuple(truth.shape[3:])
    taper = gaspari_cohn(periodic_distances(grid, 1.0 / grid[0]), 0.1)
    rows = []
    for sensors, noise in itertools.product(args.sensors, args.noise):
        model = ObservationModel(sensors=sensors, layout="random-per-trajectory", noise=noise, seed=1)
        pairs = [model.observe(t[:warmup], s) for t, s in zip(truth, test.samples, strict=True)]
        values = torch.stack([p[0] for p in pairs])
        mask = torch.stack([p[1] for p in pairs])
        results, seconds = {}, {}
        start = time.perf_counter()
        results["observer"] = observer.assimilate(values.float(), mask.float(), steps=horizon).double()
        seconds["observer"] = (time.perf_counter() - start) / frames
        guess = observer.initial_guess(truth[:, 0].float())
        results["forecast-only"] = torch.cat([guess[:, None], observer.predict(guess[:, None], frames - 1)], 1).double()
        seconds["forecast-only"] = seconds["observer"]
        enkf, nudged, enkf_time, nudge_time = [], [], 0.0, 0.0
        for i, sample in enumerate(test.samples):
            advance = solver_advance(test, sample)
            y = torch.cat([values[i, :, 0], torch.zeros(horizon, *grid, dtype=values.dtype)])
            m = torch.cat([mask[i, :, 0].expand_as(values[i, :, 0]), torch.zeros(horizon, *grid, dtype=mask.dtype)])
            start_enkf = time.perf_counter()
            noise_std = max(noise * float(truth[i].std()), 1e-3 * float(truth[i].std()))
            mean, _ = ensemble_kalman_filter(
                advance, ensemble, y, m, noise_std, 1.05, taper, torch.Generator().manual_seed(i)
            )
            enkf_time += time.perf_counter() - start_enkf
            enkf.append(mean)
            start_nudge = time.perf_counter()
            nudged.append(nudging(advance, ensemble.mean(0), y, m, 0.5))
            nudge_time += time.perf_counter() - start_nudge
        results["enkf"] = torch.stack(enkf)[:, :, None]
        results["nudging"] = torch.stack(nudged)[:, :, None]
        seconds["enkf"], seconds["nudging"] = enkf_time / frames, nudge_time / frames
        for method, states in results.items():
            curve = relative_l2_per_step(states.float(), truth.float()).tolist()
            rows.append(
                {
                    "case": name,
                    "sensors": sensors,
                    "noise": noise,
                    "method": method,
                    "during_window": float(np.mean(curve[:warmup])),
                    "after_window": float(np.mean(curve[warmup:])),
                    "seconds_per_step": seconds[method],
                    "curve": curve,
                    "members": args.members,
                    "train_seconds": train_seconds,
                }
            )
    return rows


def plot(rows: list[dict], path: Path) -> None:
    """Relative L2 against frame: one row of panels per equation, one panel per sensors/noise setting."""
    cases = list(dict.fromkeys(r["case"] for r in rows))
    settings = list(dict.fromkeys((r["sensors"], r["noise"]) for r in rows))
    fig = _figure(3.6 * len(settings), 2.8 * len(cases))
    axes = np.atleast_2d(fig.subplots(len(cases), len(settings), squeeze=False))
    for (i, case), (j, (sensors, noise)) in itertools.product(enumerate(cases), enumerate(settings)):
        ax = axes[i, j]
        for r in rows:
            if (r["case"], r["sensors"], r["noise"]) == (case, sensors, noise):
                ax.plot(r["curve"], "-o", markersize=2, label=r["method"])
        ax.axvline(WARMUP - 0.5, color="grey", linestyle=":")
        ax.set_yscale("log")
        ax.set(title=f"{case}: {sensors:g} sensors, noise {noise:g}", xlabel="frame", ylabel="relative L2")
    axes[0, 0].legend(fontsize="small")
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--trajectories", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--members", type=int, default=32, help="EnKF ensemble size")
    parser.add_argument("--sensors", type=float, nargs="+", default=[0.1, 0.3])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.01, 0.05])
    parser.add_argument("--json", default="benchmarks/results/assimilation.json")
    parser.add_argument("--plot-only", action="store_true", help="redraw the plot from an existing --json")
    args = parser.parse_args(argv)
    if args.plot_only:
        rows = json.loads(Path(args.json).read_text())
        plot(rows, Path(args.json).with_suffix(".png"))
        return rows
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases:
            rows += run_case(name, CASES[name], args, Path(tmp))
    print(
        f"relative L2 (mean over frames); {args.epochs} epochs, EnKF {args.members} members, threads "
        f"{torch.get_num_threads()}"
    )
    print(f"{'case':<5} {'sensors':>7} {'noise':>6} {'method':<14} {'window':>8} {'after':>8} {'s/step':>8}")
    for r in rows:
        print(
            f"{r['case']:<5} {r['sensors']:>7g} {r['noise']:>6g} {r['method']:<14} {r['during_window']:>8.4f} "
            f"{r['after_window']:>8.4f} {r['seconds_per_step']:>8.4f}"
        )
    path = _common.write_json(rows, args.json)
    plot(rows, path.with_suffix(".png"))
    print(f"wrote {path.with_suffix('.png')}")
    return rows


if __name__ == "__main__":
    main()
