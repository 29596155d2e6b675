"""Rollout evaluation: a surrogate (or stored predictions) against dataset trajectories.

Given the first ``history`` states of each trajectory, the model predicts the
rest; only predicted states are scored (``training.evaluation.metrics``), next to the
persistence baseline (the last given state repeated). Results go to a JSON
report and two figures (``training.evaluation.figures``): error against rollout step, and
prediction against truth.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np
import torch

import pde_data
from operators.predictors.surrogate import Surrogate
from pde_data.fields import file_channels, from_channels, read_channels
from pde_data.loading import FileData
from pde_data.parameters import parameter_names
from pde_data.recipes import Recipe
from pde_data.sources import open_source
from pde_data.storage import file_recipe, open_hdf5, stream_well_file
from solvers.errors import InputError
from training.evaluation.figures import plot_error_curves, plot_error_vs_resolution, plot_prediction
from training.evaluation.metrics import relative_l2_per_step, rollout_metrics, vrmse_per_step


def dataset_trajectories(path: str | Path, split: str | None, limit: int | None) -> tuple[list[int], torch.Tensor]:
    """Trajectory indices and fields ``(samples, time, channels, *grid)`` of a split (first ``limit``), of a
    pdeop file or of The Well's data (``pde_data.sources``: its indices count the split's trajectories)."""
    source = open_source(path, split)
    samples = source.trajectory_indices[:limit] if limit else source.trajectory_indices
    return samples, torch.stack([source.trajectory(i) for i in samples])


def dataset_constants(path: str | Path, split: str | None, samples: list[int]) -> torch.Tensor | None:
    """The constant fields ``(samples, C_const, *grid)`` of the data (None for data without any)."""
    source = open_source(path, split)
    return torch.stack([source.constants(i) for i in samples]) if source.constant_names else None


def model_frames(surrogate: Surrogate, trajectories: torch.Tensor) -> torch.Tensor:
    """The stored frames the surrogate steps between: from its ``first_frame``, every ``stride``-th."""
    first, stride = int(surrogate.metadata.get("first_frame", 0)), int(surrogate.metadata.get("stride", 1))
    return trajectories[:, first::stride]


def rollout(
    surrogate: Surrogate,
    trajectories: torch.Tensor,
    precision: str | None = None,
    steps: int | None = None,
    constant: torch.Tensor | None = None,
):
    """Predict every trajectory from its first ``history`` states (at the surrogate's stride), for ``steps``
    states (default: to the last stored frame); ``constant``: the trajectories' constant inputs, if any.

    Returns ``(prediction, target, seconds)``; both ``(samples, steps, channels, *grid)``.
    """
    frames = model_frames(surrogate, trajectories)
    given, target = frames[:, : surrogate.history], frames[:, surrogate.history :][:, :steps]
    if target.shape[1] == 0:
        raise InputError("the trajectories are too short to leave any frame to predict")
    start = time.perf_counter()
    prediction = surrogate.predict(given, target.shape[1], precision, constant).cpu()
    return prediction, target.float(), time.perf_counter() - start


def one_step_scores(
    surrogate: Surrogate, trajectories: torch.Tensor, precision: str | None = None, constant: torch.Tensor | None = None
) -> dict:
    """The Well's one-step scores: relative L2 and VRMSE of one model call from every window of every
    trajectory (not only from the first frames), with persistence beside it.

    Returns ``{"model": {...}, "persistence": {...}}`` with ``relative_l2_one_step`` and ``vrmse_one_step``.
    """
    frames = model_frames(surrogate, trajectories).float()
    history = surrogate.history
    starts = range(frames.shape[1] - history)
    if not starts:
        return {"model": {}, "persistence": {}}
    inputs = torch.cat([frames[:, s : s + history] for s in starts])
    targets = torch.cat([frames[:, s + history : s + history + 1] for s in starts])
    constants = None if constant is None else torch.cat([constant] * len(starts))  # inputs are start-major
    pieces = range(0, len(inputs), 256)
    predictions = torch.cat(
        [
            surrogate.predict(
                inputs[i : i + 256], 1, precision, None if constants is None else constants[i : i + 256]
            ).cpu()
            for i in pieces
        ]
    )
    out = {}
    for name, guess in (("model", predictions), ("persistence", inputs[:, -1:])):
        out[name] = {
            "relative_l2_one_step": float(relative_l2_per_step(guess, targets).mean()),
            "vrmse_one_step": float(vrmse_per_step(guess, targets).mean()),
        }
    return out


def score(
    prediction: torch.Tensor,
    target: torch.Tensor,
    last_given: torch.Tensor,
    dt: float,
    channel_names: list[str] | None = None,
    length: float = 1.0,
    fields: dict[str, list[int]] | None = None,
) -> dict:
    """Model and persistence-baseline metrics of rollouts (predicted frames only), per channel when several,
    and per field (``fields``: a field's channel indices, e.g. a vector's components) when given."""
    persistence = last_given[:, None].expand_as(target)
    return {
        "model": rollout_metrics(prediction, target, dt, channel_names, length, fields),
        "persistence": rollout_metrics(persistence, target, dt, channel_names, length, fields),
    }


def evaluate_surrogate(
    surrogate: Surrogate,
    data: str | Path,
    out_dir: str | Path,
    split: str | None = "test",
    trajectories: int | None = None,
    precision: str | None = None,
    steps: int | None = None,
) -> dict:
    """Roll out over ``split`` of ``data`` (``steps`` states at most), write ``evaluation.json`` and plots
    to ``out_dir``; return the report."""
    samples, fields = dataset_trajectories(data, split, trajectories)
    constant = dataset_constants(data, split, samples)
    prediction, target, seconds = rollout(surrogate, fields, precision, steps, constant)
    last_given = model_frames(surrogate, fields)[:, surrogate.history - 1].float()
    dt = float(surrogate.metadata.get("dt") or 1.0)
    length = float(surrogate.metadata.get("length") or 1.0)
    groups = surrogate.metadata.get("fields")
    report = score(prediction, target, last_given, dt, surrogate.metadata.get("field_names"), length, groups)
    for name, values in one_step_scores(surrogate, fields, precision, constant).items():
        report[name]["summary"].update(values)
    report.update(
        data=str(data),
        split=split,
        samples=samples,
        given_frames=surrogate.history,
        first_frame=int(surrogate.metadata.get("first_frame", 0)),
        dt=dt,
        seconds_per_trajectory=seconds / len(samples),
    )
    write_report(report, out_dir, prediction[0], target[0], data, samples[0])
    return report


def write_report(
    report: dict, out_dir: str | Path, prediction: torch.Tensor, target: torch.Tensor, data: str | Path, sample: int
) -> None:
    """``evaluation.json`` and the two figures (trajectory ``sample`` of ``data`` in the second)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=1))
    source = open_source(data, report.get("split"))
    x = source.coordinates(sample)
    name = source.description["name"]
    plot_error_curves(report, out_dir / "error_vs_step.png", f"{name}: {len(report['samples'])} trajectories")
    title = f"{name}, sample {sample}, {source.channel_names[0]}"
    plot_prediction(prediction, target, out_dir / "prediction_vs_truth.png", title, source.channel_names[0], x)


# --- prediction files ------------------------------------------------------------------------
def write_predictions(
    path: str | Path,
    data: str | Path,
    samples: list[int],
    prediction: torch.Tensor | Iterable[torch.Tensor],
    first_frame: int,
    frame_stride: int,
    model_name: str,
    steps: int | None = None,
    replace: bool = True,
) -> Path:
    """Save rollouts ``(samples, steps, channels, *grid)`` in the dataset format (readable by ``pde_data.open``).

    ``prediction`` is one tensor, or an iterable of consecutive time pieces
    ``(samples, k, channels, *grid)`` with ``steps`` states in all: they are streamed
    to the file, so memory holds one piece. Root attributes ``data_file``,
    ``first_frame`` (the data-file frame index of prediction 0), ``frame_stride`` and
    ``given_frames`` say which stored frames each prediction corresponds to;
    ``pdeop/sample_index`` gives the trajectory. Outside models can write files with
    the same attributes to be scored by ``pdeop evaluate --predictions``. ``replace=False``: refuse to replace
    a file that appeared at ``path`` meanwhile (``pde_data.storage.atomic_output``).
    """
    if isinstance(prediction, torch.Tensor):
        steps, prediction = prediction.shape[1], [prediction]
    recipe = file_recipe(data)
    layout = Recipe.from_dict({**recipe.to_dict(), "total_frames": max(steps, 2), "kept_frames": steps})
    source = pde_data.open(data)
    times = source["time"].values
    times = times[samples] if times.ndim == 2 else np.broadcast_to(times, (len(samples), times.shape[0]))
    spacing = times[:, 1:2] - times[:, :1]  # stored frames are evenly spaced
    trajectories = {
        "sample_index": np.asarray(samples, dtype=np.int64),
        "seed": source["seed"].values[samples],
        "length": source["length"].values[samples] if "length" in source else np.full(len(samples), recipe.length),
        "time": times[:, :1] + spacing * (first_frame + frame_stride * np.arange(steps)),
        "caption": [f"Prediction by {model_name} of: {source['caption'].values[i]}" for i in samples],
        "parameters": {name: source[name].values[samples] for name in parameter_names(recipe.varying)},
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
    pieces = (from_channels(piece.cpu().numpy().astype(np.float32), recipe.channels) for piece in prediction)
    return stream_well_file(Path(path), layout, trajectories, pieces, metadata, replace=replace)


#: what predictions and the data they are scored against must share
SAME_PROBLEM = ("equation", "coefficients", "length", "resolution", "initial_condition", "forcing", "extra_fields")


def check_same_problem(predictions: str | Path, data: str | Path) -> None:
    """Refuse to score predictions of one equation, coefficients, grid or seeds against another's data."""
    made, truth = file_recipe(predictions).to_dict(), file_recipe(data).to_dict()
    different = [f"{key} {made[key]!r} vs {truth[key]!r}" for key in SAME_PROBLEM if made[key] != truth[key]]
    if not different:
        with h5py.File(predictions, "r") as f, h5py.File(data, "r") as g:
            samples, seeds = f["pdeop/sample_index"][()], f["pdeop/seed"][()]
            if samples.size and samples.max() < g["pdeop/seed"].shape[0]:
                mismatched = [int(i) for i, s in zip(samples, seeds) if g["pdeop/seed"][int(i)] != s]
                if mismatched:
                    different.append(f"the initial-condition seeds of samples {mismatched[:5]}")
    if different:
        raise InputError(f"{predictions} predicts other data than {data}: {'; '.join(different)}")


def check_same_trajectories(datasets: list[str | Path]) -> None:
    """Refuse datasets that are not the same trajectories (same problem and seeds) at other resolutions."""
    first = file_recipe(datasets[0]).to_dict()
    with h5py.File(datasets[0], "r") as f:
        seeds = f["pdeop/seed"][()]
    for data in datasets[1:]:
        other = file_recipe(data).to_dict()
        different = [
            f"{key} {first[key]!r} vs {other[key]!r}"
            for key in SAME_PROBLEM[:-1]
            if key != "resolution" and first[key] != other[key]
        ]
        with h5py.File(data, "r") as f:
            if not np.array_equal(f["pdeop/seed"][()], seeds):
                different.append("the initial-condition seeds (generate both with the same --seed and samples)")
        if different:
            raise InputError(f"{data} holds other trajectories than {datasets[0]}: {'; '.join(different)}")


def evaluate_resolutions(
    surrogate: Surrogate,
    datasets: list[str | Path],
    out_dir: str | Path,
    split: str | None = "test",
    trajectories: int | None = None,
    precision: str | None = None,
) -> list[dict]:
    """Evaluate on the same trajectories stored at several resolutions.

    Each dataset's full report goes to ``out_dir/<data name>/``; the rows (resolution,
    rollout and one-step relative L2, persistence) to ``out_dir/resolution.json`` and a
    plot to ``out_dir/error_vs_resolution.png``. Grid-tied models need
    ``surrogate.on_other_grids(...)`` for grids other than their own.
    """
    check_same_trajectories(datasets)
    out_dir = Path(out_dir)
    rows = []
    for data in datasets:
        report = evaluate_surrogate(surrogate, data, out_dir / Path(data).stem, split, trajectories, precision)
        model, persistence = report["model"]["summary"], report["persistence"]["summary"]
        rows.append(
            {
                "data": str(data),
                "resolution": int(FileData(data).grid_shape[0]),
                "relative_l2_rollout": model["relative_l2_rollout"],
                "relative_l2_one_step": model.get("relative_l2_one_step"),
                "persistence_relative_l2_rollout": persistence["relative_l2_rollout"],
            }
        )
    trained = (surrogate.metadata.get("grid") or [None])[0]
    label = surrogate.model.pdeop_spec["name"] + (f" ({surrogate.other_grids})" if surrogate.other_grids else "")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "resolution.json").write_text(
        json.dumps({"model": label, "trained_on": trained, "rows": rows}, indent=2)
    )
    curves = {label: [(r["resolution"], r["relative_l2_rollout"]) for r in rows]}
    plot_error_vs_resolution(curves, out_dir / "error_vs_resolution.png", "error against resolution", trained)
    return rows


def resolution_table(rows: list[dict]) -> str:
    """The rows of ``evaluate_resolutions`` as text."""
    lines = [f"{'grid':>6} {'rollout L2':>11} {'1-step L2':>10} {'persistence':>12}  data"]
    for r in rows:
        one = r["relative_l2_one_step"]
        lines.append(
            f"{r['resolution']:>6} {r['relative_l2_rollout']:>11.4g} {one if one is None else format(one, '.4g'):>10}"
            f" {r['persistence_relative_l2_rollout']:>12.4g}  {r['data']}"
        )
    return "\n".join(lines)


def check_predictions(predictions: str | Path) -> str:
    """The model name a predictions file (``write_predictions``' layout) records, after checking that it is
    one: a clear InputError when it is missing, not HDF5, or lacks the attributes and sample index."""
    with open_hdf5(predictions, "predictions file") as f:
        if "t0_fields" in f and not {"first_frame", "frame_stride"} & set(f.attrs):  # a dataset (generate's)
            raise InputError(
                f"{predictions} is a dataset, not a predictions file; pdeop predict RUN --input DATA --out FILE "
                "writes predictions (or score a run on a dataset with pdeop evaluate RUN --data DATA)"
            )
        for key in ("first_frame", "frame_stride"):
            if key not in f.attrs:
                raise InputError(
                    f"{predictions} lacks the root attribute {key!r}; see training.evaluation.write_predictions"
                )
        if "pdeop/sample_index" not in f:
            raise InputError(f"{predictions} lacks pdeop/sample_index; see training.evaluation.write_predictions")
        return str(f.attrs.get("model", Path(predictions).stem))


def score_predictions(predictions: str | Path, data: str | Path, out_dir: str | Path) -> dict:
    """Score a predictions file against the dataset it predicts, with the same metrics and baseline."""
    check_predictions(predictions)
    with h5py.File(predictions, "r") as f:
        first, stride = int(f.attrs["first_frame"]), int(f.attrs["frame_stride"])
        samples = [int(i) for i in f["pdeop/sample_index"][()]]
        channels = file_channels(f)
        prediction = torch.from_numpy(read_channels(f, channels, list(range(len(samples)))))
    check_same_problem(predictions, data)
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
        index = index[index < n_frames]  # a rollout may run past the stored frames: score the overlap
        if index.size == 0 or first < 1:
            raise InputError(
                f"{predictions} covers frames {first}..{first + stride * (steps - 1)}, none of which {data} "
                f"stores (it has frames 0..{n_frames - 1}), or it has no given frame before them"
            )
        prediction = prediction[:, : index.size]
        target = torch.from_numpy(read_channels(f, channels, samples, list(index)))
        last_given = torch.from_numpy(read_channels(f, channels, samples, [first - stride]))[:, 0]
        times = f["dimensions/time"][()]
    if tuple(prediction.shape[3:]) != tuple(target.shape[3:]):
        raise InputError(
            f"prediction grid {tuple(prediction.shape[3:])} differs from the data grid {tuple(target.shape[3:])}"
        )
    dt = float(np.diff(times, axis=-1).flat[0]) * stride
    names = [c.name for c in channels]
    report = score(prediction.float(), target.float(), last_given.float(), dt, names, file_recipe(data).length)
    report.update(
        data=str(data),
        predictions=str(predictions),
        samples=samples,
        dt=dt,
        predicted_steps=steps,
        scored_steps=int(index.size),
        training_samples=training_samples(data, samples),
    )
    write_report(report, out_dir, prediction[0].float(), target[0].float(), data, samples[0])
    return report


def training_samples(data: str | Path, samples: list[int]) -> list[int]:
    """Those of ``samples`` that lie in ``data``'s training split (``pde_data.loading.split_samples``): a model
    trained on that file has seen them, so their scores are training scores, not test scores."""
    try:
        train = set(FileData(data, split="train").samples)
    except InputError:  # a file of the valid or test split holds no training trajectory
        return []
    return [s for s in samples if s in train]


def summary_table(report: dict) -> str:
    """A two-column text table: model and persistence (then per field, when there are several)."""
    model, baseline = report["model"]["summary"], report["persistence"]["summary"]
    lines = [f"{'metric':<28} {'model':>10} {'persistence':>12}"]
    for key in model:
        lines.append(f"{key:<28} {model[key]:>10.4g} {baseline[key]:>12.4g}")
    per_name = report["model"].get("per_channel", {}) | report["model"].get("per_field", {})
    references = report["persistence"].get("per_channel", {}) | report["persistence"].get("per_field", {})
    for name, summary in per_name.items():
        reference = references[name]
        for key in ("relative_l2_first_step", "relative_l2_rollout", "vrmse_rollout"):
            label = f"{name}: {key}"
            lines.append(f"{label:<28} {summary[key]:>10.4g} {reference[key]:>12.4g}")
    return "\n".join(lines)
