"""Rollout evaluation: a surrogate (or stored predictions) against dataset trajectories.

Given the first ``history`` states of each trajectory, the model predicts the
rest; only predicted states are scored (``training.metrics``), next to the
persistence baseline (the last given state repeated). Results go to a JSON
report and two plots: error against rollout step, and prediction against truth.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import pde_data
from operators.surrogate import Surrogate
from pde_data.fields import file_channels, from_channels, read_channels
from pde_data.loading import FileData
from pde_data.presets import Recipe
from pde_data.storage import file_recipe, write_well_file
from solvers.errors import InputError
from training.metrics import rollout_metrics


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def dataset_trajectories(path: str | Path, split: str | None, limit: int | None) -> tuple[list[int], torch.Tensor]:
    """Sample indices and fields ``(samples, time, channels, *grid)`` of a split (first ``limit``)."""
    data = FileData(path, split=split)
    samples = data.samples[:limit] if limit else data.samples
    return samples, torch.stack([data.read(i) for i in samples])


def rollout(surrogate: Surrogate, trajectories: torch.Tensor, precision: str | None = None):
    """Predict every trajectory from its first ``history`` states (at the surrogate's stride).

    Returns ``(prediction, target, seconds)``; both ``(samples, steps, channels, *grid)``.
    """
    stride = int(surrogate.metadata.get("stride", 1))
    frames = trajectories[:, ::stride]
    given, target = frames[:, : surrogate.history], frames[:, surrogate.history :]
    if target.shape[1] == 0:
        raise InputError("the trajectories are too short to leave any frame to predict")
    start = time.perf_counter()
    prediction = surrogate.predict(given, target.shape[1], precision).cpu()
    return prediction, target.float(), time.perf_counter() - start


def score(
    prediction: torch.Tensor,
    target: torch.Tensor,
    last_given: torch.Tensor,
    dt: float,
    channel_names: list[str] | None = None,
) -> dict:
    """Model and persistence-baseline metrics of rollouts (predicted frames only), per field when several."""
    persistence = last_given[:, None].expand_as(target)
    return {
        "model": rollout_metrics(prediction, target, dt, channel_names),
        "persistence": rollout_metrics(persistence, target, dt, channel_names),
    }


def evaluate_surrogate(
    surrogate: Surrogate,
    data: str | Path,
    out_dir: str | Path,
    split: str | None = "test",
    trajectories: int | None = None,
    precision: str | None = None,
) -> dict:
    """Roll out over ``split`` of ``data``, write ``evaluation.json`` and plots to ``out_dir``; return the report."""
    samples, fields = dataset_trajectories(data, split, trajectories)
    prediction, target, seconds = rollout(surrogate, fields, precision)
    stride = int(surrogate.metadata.get("stride", 1))
    last_given = fields[:, ::stride][:, surrogate.history - 1].float()
    dt = float(surrogate.metadata.get("dt") or 1.0)
    report = score(prediction, target, last_given, dt, surrogate.metadata.get("field_names"))
    report.update(
        data=str(data),
        split=split,
        samples=samples,
        given_frames=surrogate.history,
        dt=dt,
        seconds_per_trajectory=seconds / len(samples),
    )
    write_report(report, out_dir, prediction[0], target[0])
    return report


def write_report(report: dict, out_dir: str | Path, prediction: torch.Tensor, target: torch.Tensor) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=1))
    plot_error_curves(report, out_dir / "error_vs_step.png")
    plot_prediction(prediction, target, out_dir / "prediction_vs_truth.png")


def plot_error_curves(report: dict, path: Path) -> None:
    fig = _figure(6, 4)
    ax = fig.subplots()
    for name, style in (("model", "-o"), ("persistence", "--")):
        curve = report[name]["curves"]["relative_l2"]
        ax.plot(range(1, len(curve) + 1), curve, style, label=name, markersize=3)
    ax.set(xlabel="rollout step", ylabel="relative L2 error", yscale="log", title="error along the rollout")
    ax.legend()
    fig.savefig(path, dpi=110, bbox_inches="tight")


def plot_prediction(prediction: torch.Tensor, target: torch.Tensor, path: Path) -> None:
    """One trajectory ``(steps, channels, *grid)``: space-time panels (1D) or snapshot rows (2D)."""
    p, u = prediction[:, 0].numpy(), target[:, 0].numpy()
    limit = float(np.abs(u).max()) or 1.0
    if p.ndim == 2:
        fig = _figure(11, 3.5)
        axes = fig.subplots(1, 3)
        panels = (("truth", u), ("prediction", p), ("error", p - u))
        for ax, (title, values) in zip(axes, panels):
            ax.imshow(values.T, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set(title=title, xlabel="rollout step", ylabel="x index")
    else:
        steps = np.unique(np.linspace(0, len(p) - 1, min(4, len(p))).round().astype(int))
        fig = _figure(2.6 * len(steps), 7.5)
        axes = fig.subplots(3, len(steps), squeeze=False)
        for column, step in enumerate(steps):
            for row, (title, values) in enumerate((("truth", u), ("prediction", p), ("error", p - u))):
                ax = axes[row][column]
                ax.imshow(values[step].T, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit)
                ax.set(xticks=[], yticks=[], title=f"{title}, step {step + 1}")
    fig.savefig(path, dpi=100, bbox_inches="tight")


# --- prediction files ------------------------------------------------------------------------
def write_predictions(
    path: str | Path,
    data: str | Path,
    samples: list[int],
    prediction: torch.Tensor,
    first_frame: int,
    frame_stride: int,
    model_name: str,
) -> Path:
    """Save rollouts ``(samples, steps, channels, *grid)`` in the dataset format (readable by ``pde_data.open``).

    Root attributes ``data_file``, ``first_frame`` (the data-file frame index of
    prediction 0), ``frame_stride`` and ``given_frames`` say which stored frames
    each prediction corresponds to; ``pdeop/sample_index`` gives the trajectory.
    Outside models can write files with the same attributes to be scored by
    ``pdeop evaluate --predictions``.
    """
    recipe = file_recipe(data)
    steps = prediction.shape[1]
    layout = Recipe.from_dict({**recipe.to_dict(), "total_frames": max(steps, 2), "kept_frames": steps})
    source = pde_data.open(data)
    times = source["time"].values
    times = times[samples] if times.ndim == 2 else np.broadcast_to(times, (len(samples), times.shape[0]))
    spacing = times[:, 1:2] - times[:, :1]  # stored frames are evenly spaced
    prediction_times = times[:, :1] + spacing * (first_frame + frame_stride * np.arange(steps))
    block = {
        "fields": from_channels(prediction.numpy().astype(np.float32), recipe.channels),
        "sample_index": np.asarray(samples, dtype=np.int64),
        "seed": source["seed"].values[samples],
        "length": source["length"].values[samples] if "length" in source else np.full(len(samples), recipe.length),
        "time": prediction_times,
        "caption": [f"Prediction by {model_name} of: {source['caption'].values[i]}" for i in samples],
    }
    metadata = {
        "source": "prediction",
        "model": model_name,
        "data_file": str(data),
        "first_frame": int(first_frame),
        "frame_stride": int(frame_stride),
        "given_frames": int(first_frame // frame_stride) if frame_stride else 0,
        "seed": int(source.attrs.get("seed", 0)),
        "split": str(source.attrs.get("split", "")),
    }
    return write_well_file(Path(path), layout, len(samples), [block], metadata)


def score_predictions(predictions: str | Path, data: str | Path, out_dir: str | Path) -> dict:
    """Score a predictions file against the dataset it predicts, with the same metrics and baseline."""
    with h5py.File(predictions, "r") as f:
        for key in ("first_frame", "frame_stride"):
            if key not in f.attrs:
                raise InputError(
                    f"{predictions} lacks the root attribute {key!r}; see training.evaluation.write_predictions"
                )
        first, stride = int(f.attrs["first_frame"]), int(f.attrs["frame_stride"])
        samples = [int(i) for i in f["pdeop/sample_index"][()]]
        channels = file_channels(f)
        prediction = torch.from_numpy(read_channels(f, channels, list(range(len(samples)))))
    with h5py.File(data, "r") as f:
        data_channels = file_channels(f)
        if [c.name for c in data_channels] != [c.name for c in channels]:
            raise InputError(
                f"{predictions} holds the channels {[c.name for c in channels]}, {data} holds {[c.name for c in data_channels]}"
            )
        n_samples, n_frames = f[channels[0].group][channels[0].field].shape[:2]
        if max(samples) >= n_samples:
            raise InputError(f"{predictions} refers to sample {max(samples)}, but {data} has {n_samples}")
        steps = prediction.shape[1]
        index = first + stride * np.arange(steps)
        if index[-1] >= n_frames or first < 1:
            raise InputError(
                f"{predictions} covers frames {index[0]}..{index[-1]} that {data} does not have (or has no given frame before)"
            )
        target = torch.from_numpy(read_channels(f, channels, samples, list(index)))
        last_given = torch.from_numpy(read_channels(f, channels, samples, [first - stride]))[:, 0]
        times = f["dimensions/time"][()]
    if tuple(prediction.shape[3:]) != tuple(target.shape[3:]):
        raise InputError(
            f"prediction grid {tuple(prediction.shape[3:])} differs from the data grid {tuple(target.shape[3:])}"
        )
    dt = float(np.diff(times, axis=-1).flat[0]) * stride
    report = score(prediction.float(), target.float(), last_given.float(), dt, [c.name for c in channels])
    report.update(data=str(data), predictions=str(predictions), samples=samples, dt=dt)
    write_report(report, out_dir, prediction[0].float(), target[0].float())
    return report


def summary_table(report: dict) -> str:
    """A two-column text table: model and persistence (then per field, when there are several)."""
    model, baseline = report["model"]["summary"], report["persistence"]["summary"]
    lines = [f"{'metric':<28} {'model':>10} {'persistence':>12}"]
    for key in model:
        lines.append(f"{key:<28} {model[key]:>10.4g} {baseline[key]:>12.4g}")
    for name, summary in report["model"].get("per_channel", {}).items():
        reference = report["persistence"]["per_channel"][name]
        for key in ("relative_l2_one_step", "relative_l2_rollout", "vrmse_rollout"):
            label = f"{name}: {key}"
            lines.append(f"{label:<28} {summary[key]:>10.4g} {reference[key]:>12.4g}")
    return "\n".join(lines)
