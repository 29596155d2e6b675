"""Cross-resolution study (the NNs-to-NOs claim): train on 64^2, evaluate one-step error at 32 ... 256.

    python benchmarks/resolution.py                      # CPU size (see below), writes JSON and a plot
    python benchmarks/resolution.py --models fno unet unet-no --epochs 5   # a subset
    python benchmarks/resolution.py --data-dir benchmarks/results/resolution-data   # keep the data for reruns
    python benchmarks/resolution.py --plot-only                                     # redraw from the JSON
    python benchmarks/resolution.py --nu 1e-5 --models fno unet unet-no vit-no mgno-no   # finer scales at 256^2

Data: FNO's forced Navier-Stokes (nu = 1e-3, or ``--nu 1e-5``) shortened to CPU size: T = 10 (11
frames), solved on 128^2 (dt 5e-3; resolved at this viscosity) and stored at
64^2 for training and at 128^2 for testing, the same trajectories (same seeds).
Two test sets at every resolution, from the same initial states (the 128^2 test
trajectories' first frames):

- ``resampled``: the 128^2 test frames Fourier-resampled to 32, 48, 64 and 256 points
  (truncated, or interpolated: exact for the band-limited 128^2 solution), so every
  resolution shows the same physical states; a band-limited 256^2 input favours
  input-output interpolation, which recovers it exactly;
- ``solved``: the spectral solver run at each resolution itself (``solved_at``), so that
  256^2 holds the solver's own fine scales and 32^2 and 48^2 what a solve there gives:
  the data a user at that resolution would have.

Every model trains on the 64^2 windows with the same epochs, optimizer and
batch, at sizes in the same parameter range (printed). Each is then scored by
the one-step relative L2 over every test window at each resolution: converted
and agnostic models directly; grid-tied ones directly (``other_grids=direct``,
where the model accepts the grid) and by input-output interpolation
(``other_grids=interpolate``, the public code's baseline).

Claim tested: each converted model's error at 4x the training resolution
(256) is within 1.5x of its error at 64, while the plain CNN / ViT degrade.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import _common
import torch

import operators
import pde_data
from operators.layers.resolution import DEFAULT_KERNEL_RESIZE, KERNEL_RESIZES, set_kernel_resize
from solvers.errors import InputError
from solvers.resample import fourier_resample
from training.config import load_config
from training.evaluation.figures import plot_error_vs_resolution
from training.run import train

#: the study's viscosities: FNO's presets, shortened to CPU size
PRESETS = {"1e-3": "ns-fno-1e-3", "1e-5": "ns-fno-1e-5"}


def study_recipe(nu: str) -> pde_data.Recipe:
    """FNO's forced Navier-Stokes at viscosity ``nu`` (a ``PRESETS`` key), T = 10 (11 frames), solved on 128^2."""
    return dataclasses.replace(
        pde_data.preset(PRESETS[nu]), solver_resolution=128, max_dt=5e-3, t_end=10.0, total_frames=11
    )


RECIPE = study_recipe("1e-3")
RESOLUTIONS = (32, 48, 64, 128, 256)
TRAIN_GRID = 64
#: (registry name, label, hyperparameters); plain and converted variants share their sizes
MODELS = {
    "fno": ("fno", {"modes": 8, "width": 16, "lifting_ratio": 0.0, "projection_ratio": 4.0, "channel_mlp": False}),
    "localno": ("localno", {"modes": 8, "width": 16, "layers": 4}),
    "unet": ("unet", {"hidden": 8, "multipliers": [1, 2, 2], "kernel_size": 5, "padding": "circular"}),
    "unet-no": ("unet-no", {"hidden": 8, "multipliers": [1, 2, 2], "kernel_size": 5, "padding": "circular"}),
    "vit": ("vit", {"patch_size": 8, "width": 96, "layers": 4, "heads": 4, "mlp": 192}),
    "vit-no": ("vit-no", {"patch_size": 8, "width": 96, "layers": 4, "heads": 4, "mlp": 192}),
    "sinenet": ("sinenet", {"hidden": 12, "waves": 2}),
    "sinenet-no": ("sinenet", {"hidden": 12, "waves": 2, "resolution_consistent": True}),
    "mgno": ("mgno", {"channels": 12, "layers": 3, "levels": 4, "norm": "layer", "residual": True}),
    "mgno-no": (
        "mgno",
        {"channels": 12, "layers": 3, "levels": 4, "norm": "layer", "residual": True, "resolution_consistent": True},
    ),
}
GRID_TIED = ("unet", "vit", "sinenet", "mgno")


def flow_hyperparameters(hyper: dict) -> str:
    def value(v):
        return str(v).lower() if isinstance(v, bool) else str(v)

    return "{" + ", ".join(f"{k}: {value(v)}" for k, v in hyper.items()) + "}"


def solved_at(frames: torch.Tensor, grid: int, device: str, recipe: pde_data.Recipe = RECIPE) -> torch.Tensor:
    """The recipe's solver run on ``grid`` from the first frames of ``frames`` ``(samples, time, 1, n, n)``
    (Fourier-resampled to ``grid``), stored at every frame time: ``(samples, time, 1, grid, grid)`` float32."""
    recipe = dataclasses.replace(recipe, resolution=grid, solver_resolution=grid)
    ones = torch.ones(frames.shape[0], dtype=torch.float64)
    solver = recipe.build_solver(recipe.length * ones, ones, None, device, None)
    u = fourier_resample(frames[:, 0, 0].double(), grid, 2).to(device=solver.device, dtype=solver.dtype)
    states = [u]
    for _ in range(frames.shape[1] - 1):
        u = solver.step(u, recipe.substeps())
        states.append(u)
    return torch.stack(states, dim=1)[:, :, None].float().cpu()


def variants(surrogate: operators.Surrogate):
    """Set ``surrogate`` up in turn for each way it runs off its grid, yielding the row label's suffix:
    a grid-tied model directly and by input-output interpolation; a converted one with each
    kernel rule (same weights: ``set_kernel_resize``); a native operator as it is."""
    if not surrogate.resolution_agnostic:
        for mode in ("direct", "interpolate"):
            surrogate.on_other_grids(mode)
            yield f" ({mode})"
        return
    if not set_kernel_resize(surrogate.model, DEFAULT_KERNEL_RESIZE):
        yield ""
        return
    for rule in KERNEL_RESIZES:
        set_kernel_resize(surrogate.model, rule)
        yield "" if rule == DEFAULT_KERNEL_RESIZE else f" ({rule}d kernels)"


def one_step_error(surrogate: operators.Surrogate, frames: torch.Tensor, grid: int) -> float | None:
    """Mean relative L2 of one model call over every window of ``frames`` ``(samples, time, C, n, n)``
    resampled to ``grid`` (already there: used as they are); None when the model refuses the grid."""
    states = frames if frames.shape[-1] == grid else fourier_resample(frames.double(), grid, 2).float()
    inputs, targets = states[:, :-1].flatten(0, 1)[:, None], states[:, 1:].flatten(0, 1)[:, None]
    try:
        with torch.no_grad():
            predictions = torch.cat([surrogate.predict(chunk, 1) for chunk in inputs.split(64)])
    except (InputError, RuntimeError):
        return None
    errors = (predictions - targets).flatten(1).norm(dim=1) / targets.flatten(1).norm(dim=1)
    return float(errors.mean())


def _difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Relative L2 of ``a`` against ``b`` resampled to ``a``'s grid."""
    b = fourier_resample(b.double(), a.shape[-1], 2)
    return (a.double() - b).norm() / b.norm()


def stored_or_generated(
    path: Path, trajectories: int, grid: int, device: str, recipe: pde_data.Recipe = RECIPE
) -> Path:
    """The recipe's ``trajectories`` at ``grid`` in ``path``: reused when there (generation writes a
    file only once it is complete), otherwise generated, resuming an interrupted generation."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    return pde_data.generate(recipe, path, trajectories, resolution=grid, progress=False, device=device, resume=True)


def plot(curves: dict, path: Path) -> None:
    plot_error_vs_resolution(
        curves,
        path.with_suffix(".png"),
        "one-step error against resolution",
        TRAIN_GRID,
        ylabel="one-step relative L2 error",
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--trajectories", type=int, default=96, help="trajectories generated (10 %% test)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", default="1.0e-3")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--nu", choices=list(PRESETS), default="1e-3", help="viscosity (1e-5: 256^2 solves hold finer scales)"
    )
    parser.add_argument("--json", default=None, help="default benchmarks/results/resolution[-nu1e-5].json")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep the generated data here and reuse it on the next run (default: a temporary folder)",
    )
    parser.add_argument("--plot-only", action="store_true", help="redraw the plot from --json and stop")
    parser.add_argument(
        "--truth",
        nargs="+",
        choices=("resampled", "solved"),
        default=["resampled", "solved"],
        help="test sets: the 128^2 solve resampled, and/or solved at each resolution",
    )
    args = parser.parse_args(argv)
    recipe = study_recipe(args.nu)
    args.json = args.json or "benchmarks/results/resolution" + ("" if args.nu == "1e-3" else f"-nu{args.nu}") + ".json"
    if args.plot_only:
        rows = json.loads(Path(args.json).read_text())["rows"]
        plot(
            {r["model"]: [(int(n), e) for n, e in r["errors"].items() if e is not None] for r in rows}, Path(args.json)
        )
        return {"rows": rows}
    rows, curves = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data_dir = args.data_dir or folder
        start = time.perf_counter()
        coarse, fine = (
            stored_or_generated(
                data_dir / f"ns-nu{args.nu}-{grid}-{args.trajectories}.h5", args.trajectories, grid, args.device, recipe
            )
            for grid in (TRAIN_GRID, 128)
        )
        print(
            f"data for {args.trajectories} trajectories at 64^2 and 128^2 ready in {time.perf_counter() - start:.0f} s"
        )
        test = pde_data.FullTrajectoryDataset(fine, "test")
        frames = torch.stack([test.read(sample) for sample in test.samples])  # (samples, time, C, 128, 128)
        truths = {"resampled": {n: frames for n in RESOLUTIONS}}
        if "solved" in args.truth:
            truths["solved"] = {n: solved_at(frames, n, args.device, recipe) for n in RESOLUTIONS}
            print(
                "solved at each resolution: relative L2 of the last frame against the 128^2 solve resampled:",
                {n: round(float(_difference(truths["solved"][n][:, -1], frames[:, -1])), 4) for n in RESOLUTIONS},
            )
        truths = {name: grids for name, grids in truths.items() if name in args.truth}
        for label in args.models:
            name, hyper = MODELS[label]
            settings = [
                f"data.path={coarse}",
                f"model.name={name}",
                f"model.hyperparameters={flow_hyperparameters(hyper)}",
                f"train.epochs={args.epochs}",
                f"train.device={args.device}",
                "data.batch_size=16",
                f"optim.lr={args.lr}",
                "optim.name=adam",
                "schedule.name=cosine",
                "train.eval_trajectories=2",
            ]
            if hyper.get("residual"):
                settings.append("task.residual=false")
            start = time.perf_counter()
            train(load_config(None, settings), folder / label, progress=False, evaluate=False)
            seconds = time.perf_counter() - start
            surrogate = operators.Surrogate.load(folder / label)
            for variant in variants(surrogate):
                for truth, grids in truths.items():
                    errors = {n: one_step_error(surrogate, grids[n], n) for n in RESOLUTIONS}
                    tag = label + variant + ("" if truth == "resampled" else f", {truth}")
                    rows.append(
                        {
                            "model": tag,
                            "truth": truth,
                            "parameters": operators.parameter_count(surrogate.model),
                            "train_seconds": seconds,
                            "errors": errors,
                        }
                    )
                    curves[tag] = [(n, e) for n, e in errors.items() if e is not None]
    _common.write_json({"rows": rows}, args.json)  # kept even if the table below fails
    header = f"{'model':<24} {'params':>9} " + " ".join(f"{n:>7}" for n in RESOLUTIONS) + f" {'256/64':>7}"
    print(f"one-step relative L2, trained on {TRAIN_GRID}^2, {args.epochs} epochs, {args.trajectories} trajectories")
    print(header)
    for row in rows:
        errors = row["errors"]
        ratio = errors[256] / errors[64] if errors[256] is not None and errors[64] else None
        row["ratio_4x"] = ratio
        cells = " ".join(f"{e:>7.4f}" if e is not None else f"{'-':>7}" for e in errors.values())
        ratio_cell = f"{ratio:>7.2f}" if ratio is not None else f"{'-':>7}"
        print(f"{row['model']:<24} {row['parameters']:>9,} {cells} {ratio_cell}")
    result = {
        "recipe": recipe.to_dict(),
        "train_grid": TRAIN_GRID,
        "epochs": args.epochs,
        "trajectories": args.trajectories,
        "threads": torch.get_num_threads(),
        "rows": rows,
    }
    path = _common.write_json(result, args.json)
    plot(curves, path)
    print(f"wrote {path.with_suffix('.png')}")
    return result


if __name__ == "__main__":
    main()
