"""Assimilation runs: score an observer against the truth over time, and assimilate observation files.

``evaluate_observer`` starts every validation (or test) trajectory from the
climatological guess, assimilates observations over the first ``warmup``
frames and forecasts the rest of the window, and scores the relative L2 against
the true trajectory at every frame, beside two baselines: the same network
without corrections from the same guess (the paper's forecast-only mode,
alpha = 0) and from the true first frame (a forecast with a perfect initial
state). Observations come from a file (``pdeop observe``) or are drawn with the
run's own observation model, seeded per trajectory.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from operators.predictors.observer import Observer
from pde_data.loading import FileData
from pde_data.observations import ObservationModel, check_observations_of, read_observations
from pde_data.storage import exclusive_output
from solvers.errors import InputError
from training.evaluation.figures import _figure
from training.evaluation.metrics import relative_l2_per_step
from training.evaluation.rollouts import write_predictions


def observations_for(
    observer: Observer, data: FileData, samples: list[int], truth: torch.Tensor, observations: str | Path | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, mask)`` ``(samples, T, C, *grid)`` / ``(samples, T, 1, *grid)`` for the trajectories ``samples``."""
    if observations is None:
        model = ObservationModel(**observer.metadata.get("observation_model", {}))
        pairs = [model.observe(trajectory.double(), sample) for trajectory, sample in zip(truth, samples, strict=True)]
        return torch.stack([p[0] for p in pairs]).float(), torch.stack([p[1] for p in pairs]).float()
    stored = read_observations(observations)
    check_observations_of(observations, stored, data.path)
    rows = {sample: row for row, sample in enumerate(stored["sample_index"])}
    missing = [s for s in samples if s not in rows]
    if missing:
        raise InputError(f"{observations} holds no observations of trajectories {missing[:5]} of {data.path}")
    index = [rows[s] for s in samples]
    values, mask = stored["values"][index], stored["mask"][index]
    if tuple(values.shape[2:]) != tuple(truth.shape[2:]):
        raise InputError(
            f"{observations} observes fields {tuple(values.shape[2:])}, the data has {tuple(truth.shape[2:])}"
        )
    return values[:, : truth.shape[1]].float(), mask[:, : truth.shape[1]].float()


def check_observer_fits(observer: Observer, source: FileData, data: str | Path, run: str | Path | None) -> None:
    """InputError, naming the run and the data, unless ``data`` holds the fields the observer was trained on, in
    as many dimensions (the grid's size may differ where the observer's networks allow)."""
    trained = tuple(observer.metadata.get("grid") or ())
    names = list(observer.metadata.get("field_names") or [])
    given = tuple(source.grid_shape)
    who = f"run {run}" if run is not None else "this observer"
    if len(trained) != len(given) or (names and names != list(source.channel_names)):
        raise InputError(
            f"{who} was trained on {len(trained)}D {', '.join(names) or 'fields'} on a {trained} grid "
            f"({observer.metadata.get('dataset', '?')}), but {data} holds {len(given)}D "
            f"{', '.join(source.channel_names)} on a {given} grid: give it data of its own problem"
        )


def evaluate_observer(
    observer: Observer,
    data: str | Path,
    out_dir: str | Path,
    split: str | None = "valid",
    trajectories: int | None = None,
    observations: str | Path | None = None,
    warmup: int | None = None,
    run: str | Path | None = None,
) -> dict:
    """Score assimilation and the two forecast-only baselines over time; write ``evaluation.json`` and a plot
    (``run``: the observer's run, named in errors)."""
    source = FileData(data, split=split)
    check_observer_fits(observer, source, data, run)
    samples = source.samples[:trajectories] if trajectories else source.samples
    warmup = int(warmup or observer.metadata.get("warmup", 8))
    frames = min(source.frames, warmup + int(observer.metadata.get("horizon", 8)))
    truth = torch.stack([source.read(s, slice(0, frames)) for s in samples]).float()
    values, mask = observations_for(observer, source, samples, truth, observations)
    window = min(warmup, values.shape[1])
    assimilated = observer.assimilate(values[:, :window], mask[:, :window], steps=frames - window).cpu()
    guess = observer.initial_guess(truth[:, 0].to(observer.device))
    from_guess = torch.cat([guess[:, None], observer.predict(guess[:, None], frames - 1)], dim=1).cpu()
    from_truth = torch.cat([truth[:, :1], observer.predict(truth[:, :1], frames - 1).cpu()], dim=1)
    curves = {
        name: relative_l2_per_step(states, truth).tolist()
        for name, states in (
            ("assimilation", assimilated),
            ("forecast_from_guess", from_guess),
            ("forecast_from_truth", from_truth),
        )
    }
    summary = {
        name: {
            "during_window": float(np.mean(curve[:window])),
            "after_window": float(np.mean(curve[window:])) if frames > window else None,
            "last_frame": curve[-1],
        }
        for name, curve in curves.items()
    }
    report = {
        "data": str(data),
        "split": split,
        "samples": samples,
        "observed_frames": window,
        "frames": frames,
        "observations": str(observations) if observations else "drawn with the run's observation model",
        "curves": curves,
        "summary": summary,
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=2))
    plot_assimilation_curves(curves, window, out_dir / "error_vs_time.png")
    return report


def plot_assimilation_curves(curves: dict[str, list[float]], window: int, path: Path) -> None:
    """Relative L2 against frame, one line per method, the end of the observation window marked."""
    fig = _figure(6, 4)
    ax = fig.subplots()
    for name, curve in curves.items():
        ax.plot(np.arange(len(curve)), curve, "-o", markersize=3, label=name.replace("_", " "))
    ax.axvline(window - 0.5, color="grey", linestyle=":", label="end of observations")
    ax.set_yscale("log")
    ax.set(xlabel="frame", ylabel="relative L2 error", title="assimilation: error against time")
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=110)


def assimilation_table(report: dict) -> str:
    lines = [f"{'method':<22} {'during window':>14} {'after window':>13} {'last frame':>11}"]
    for name, row in report["summary"].items():
        after = "-" if row["after_window"] is None else f"{row['after_window']:.4g}"
        lines.append(f"{name:<22} {row['during_window']:>14.4g} {after:>13} {row['last_frame']:>11.4g}")
    return "\n".join(lines)


def assimilate_to_file(
    run: str | Path,
    data: str | Path,
    observations: str | Path,
    out: str | Path,
    steps: int = 0,
    overwrite: bool = False,
) -> str:
    """Assimilate an observation file's trajectories (``pdeop assimilate``) and write the states to ``out``:
    the analysed states over the observed frames and ``steps`` forecasts after, in the dataset format."""
    with exclusive_output(out, overwrite, "assimilating to") as out:
        return _assimilate_to_locked_file(run, data, observations, out, steps, overwrite)


def _assimilate_to_locked_file(run, data, observations, out: Path, steps: int, overwrite: bool) -> str:
    import operators

    observer = operators.load(run)
    if not isinstance(observer, Observer):
        raise InputError(f"{run} is not an assimilation run (its checkpoint holds: {type(observer).__name__})")
    stored = read_observations(observations)
    check_observations_of(observations, stored, data)
    check_observer_fits(observer, FileData(data), data, run)
    values, mask = stored["values"].float(), stored["mask"].float()
    states = observer.assimilate(values, mask, steps=steps).cpu()
    write_predictions(
        out, data, stored["sample_index"], states, 0, 1, observer.model.pdeop_spec["name"], replace=overwrite
    )
    return f"wrote {out}: {states.shape[0]} trajectories x {states.shape[1]} states ({values.shape[1]} assimilated)"
