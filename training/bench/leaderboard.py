"""The leaderboard of a bench: ``leaderboard.md`` and ``leaderboard.json`` from the models' results, and plots.

Rows are sorted by rollout relative L2. Columns: parameters, one-step and rollout relative L2, VRMSE, the
rollout's steps (a generator of fixed-length trajectories may cover fewer than the suite), the
high-correlation time (first time the correlation with the truth drops below 0.8), training seconds,
inference seconds per trajectory (batch ``training.bench.INFERENCE_BATCH``), the speed-up over the
spectral solver on the same grid, horizon, batch and device, the speed-up at equal accuracy (against the
cheapest rung of the solver ladder, ``training.bench.ladder``, that is as accurate), and peak memory during
inference; below the table the ladder itself. Plots: relative L2 against rollout step for every model
(persistence dashed), and error against inference time (the Pareto front of the models marked, the
reference solve as a vertical line, the ladder's error-cost front as the solver's own curve). External rollouts (``pdeop bench --predictions``) appear in the same table, with the
columns they have.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.evaluation.figures import _figure

COLUMNS = (
    ("model", "model", "{}"),
    ("parameters", "parameters", "{:,}"),
    ("relative_l2_one_step", "1-step rel. L2", "{:.4f}"),
    ("relative_l2_rollout", "rollout rel. L2", "{:.4f}"),
    ("vrmse_rollout", "rollout VRMSE", "{:.4f}"),
    ("rollout_steps", "steps", "{}"),
    ("high_correlation_time", "corr. > 0.8 until", "{:.3g}"),
    ("train_seconds", "train s", "{:.0f}"),
    ("inference_seconds_per_trajectory", "inference s / traj.", "{:.2e}"),
    ("speedup", "speed-up vs solver", "{:.3g}x"),
    ("speedup_equal_accuracy", "speed-up at equal accuracy", "{:.3g}x"),
    ("peak_memory_mb", "inference MiB", "{:.0f}"),
)
LADDER_COLUMNS = (
    ("solver", "solver rung", "{}"),
    ("relative_l2_rollout", "rollout rel. L2", "{:.4f}"),
    ("seconds_per_trajectory", "s / traj.", "{:.2e}"),
)
EQUAL_ACCURACY = (
    "Speed-up at equal accuracy: the time of the cheapest solver rung (the suite's solver at coarser grids and "
    "larger steps, scored and timed like the models) whose rollout error is at most the model's, over the model's "
    "time; the reference solve where no coarser rung is that accurate (McGreivy & Hakim, Nature Machine "
    "Intelligence 6, 2024: speed-ups against a solver run far more accurately than the surrogate overstate it)."
)


def collect(out: Path) -> list[dict]:
    """Every finished model's and scored prediction file's result under ``out``, best rollout error first."""
    rows = [json.loads(p.read_text()) for p in sorted((Path(out) / "models").glob("*/result.json"))]
    rows += [json.loads(p.read_text()) for p in sorted((Path(out) / "external").glob("*/result.json"))]
    for row in rows:
        solver, model = row.get("solver_seconds_per_trajectory"), row.get("inference_seconds_per_trajectory")
        row["speedup"] = solver / model if solver and model else None
    return sorted(rows, key=lambda r: r["relative_l2_rollout"])


def markdown(rows: list[dict], bench: dict) -> str:
    """The table as Markdown, with a header saying what was run."""
    header = "| " + " | ".join(label for _, label, _ in COLUMNS) + " |"
    lines = [
        f"# Leaderboard: {bench.get('suite')} ({bench.get('tier')} tier, budget {bench.get('budget')}"
        + (f" = {bench['budget_value']:g}" if bench.get("budget_value") else "")
        + (f", {bench['bundle']} states per call" if bench.get("bundle", 1) > 1 else "")
        + (", direct operators u(0) -> u(T)" if bench.get("direct") else "")
        + f", {bench.get('device')})",
        "",
        header,
        "|" + "---|" * len(COLUMNS),
    ]
    for row in rows:
        cells = [_cell(row.get(key), form) for key, _, form in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    solver = next((r.get("solver") for r in rows if r.get("solver")), None)
    if solver:
        lines += ["", f"Solver: {solver}, timed on the same batch, horizon and device."]
    split = sorted({(r["model"], r["inference_call_batch"]) for r in rows if _splits_its_batch(r)})
    if split:
        calls = ", ".join(f"{model} {size}" for model, size in split)
        lines.append(
            f"Split batches (fast inference on the CPU, as the solver steps its batch in cache-sized chunks): "
            f"trajectories per model call: {calls}."
        )
    lines.append(
        "Inference MiB: on a GPU the allocator's peak (weights included); on the CPU the growth of the "
        "process's resident set during the timed rollouts."
    )
    failed = (
        [json.loads(p.read_text()) for p in sorted((Path(bench["out"]) / "models").glob("*/failed.json"))]
        if bench.get("out")
        else []
    )
    lines += [f"Not run: {f['reason']}" for f in failed]
    persistence = next((r.get("persistence_relative_l2_rollout") for r in rows), None)
    if persistence is not None:
        lines.append(f"Persistence (the last given state repeated): rollout relative L2 {persistence:.4f}.")
    ladder = main_ladder(bench.get("out"))
    if ladder:
        lines += [
            "",
            EQUAL_ACCURACY,
            "",
            f"Solver ladder ({ladder['key']}, {ladder['threads']} thread(s)):",
            "",
            "| " + " | ".join(label for _, label, _ in LADDER_COLUMNS) + " |",
            "|" + "---|" * len(LADDER_COLUMNS),
        ]
        for rung in ladder["rungs"]:
            name = (
                rung["solver"]
                + (" (reference)" if rung["reference"] else "")
                + ("" if rung["stable"] else " (unstable)")
            )
            cells = [name] + [_cell(rung.get(key), form) for key, _, form in LADDER_COLUMNS[1:]]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main_ladder(out: str | Path | None) -> dict | None:
    """The solver ladder of the bench's longest horizon (``OUT/ladder.json``), with its key and threads."""
    path = Path(out) / "ladder.json" if out else None
    if path is None or not path.is_file():
        return None
    measured = json.loads(path.read_text())
    if not measured:
        return None
    key = max(measured, key=lambda k: measured[k].get("steps", 0))
    return {"key": key, **measured[key]}


def _cell(value, form: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return form.format(value)


def write(out: Path) -> list[Path]:
    """Write ``leaderboard.md``, ``leaderboard.json`` and the two plots under ``out``; return their paths."""
    out = Path(out)
    bench = json.loads((out / "bench.json").read_text()) if (out / "bench.json").is_file() else {}
    bench["out"] = str(out)
    rows = collect(out)
    paths = [out / "leaderboard.md", out / "leaderboard.json", out / "error_vs_step.png", out / "pareto.png"]
    paths[0].write_text(markdown(rows, bench))
    paths[1].write_text(json.dumps({"bench": bench, "rows": rows}, indent=1))
    plot_error_against_step(rows, paths[2])
    plot_pareto(rows, paths[3])
    return paths


def plot_error_against_step(rows: list[dict], path: Path) -> None:
    fig = _figure(7, 4.5)
    ax = fig.subplots()
    for row in rows:
        curve = np.asarray(row.get("relative_l2_per_step") or [])
        if curve.size:
            ax.plot(np.arange(1, curve.size + 1), curve, "-o", markersize=3, label=row["model"])
    ax.set_yscale("log")
    ax.set(xlabel="rollout step (1 = first predicted state)", ylabel="relative L2 error", title="error against step")
    if rows:
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.savefig(path, dpi=110, bbox_inches="tight")


def plot_pareto(rows: list[dict], path: Path) -> None:
    fig = _figure(6.5, 4.5)
    ax = fig.subplots()
    points = [
        (r["inference_seconds_per_trajectory"], r["relative_l2_rollout"], r["model"])
        for r in rows
        if r.get("inference_seconds_per_trajectory")
    ]
    for seconds, error, name in points:
        ax.scatter(seconds, error, s=25)
        ax.annotate(name, (seconds, error), fontsize=8, xytext=(3, 3), textcoords="offset points")
    front, best = [], np.inf
    for seconds, error, _ in sorted(points):
        if error < best:
            front.append((seconds, error))
            best = error
    if front:
        ax.plot(*zip(*front, strict=True), "k--", linewidth=1, label="Pareto front")
    solver = next((r["solver_seconds_per_trajectory"] for r in rows if r.get("solver_seconds_per_trajectory")), None)
    if solver:
        ax.axvline(solver, color="tab:red", linestyle=":", label="spectral solver (reference)")
    ladder = main_ladder(path.parent)
    if ladder:  # the solver's own error-cost front: its cheapest rung at each accuracy
        front, best = [], np.inf
        stable = [(r["seconds_per_trajectory"], r["relative_l2_rollout"]) for r in ladder["rungs"] if r["stable"]]
        for seconds, error in sorted(stable):
            if error < best and error > 0:
                front.append((seconds, error))
                best = error
        if front:
            ax.plot(
                *zip(*front, strict=True),
                "-s",
                color="tab:red",
                markersize=4,
                linewidth=1,
                label="solver ladder (coarser grids, larger steps)",
            )
    if points:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set(xlabel="inference seconds per trajectory", ylabel="rollout relative L2", title="error against cost")
    fig.savefig(path, dpi=110, bbox_inches="tight")


def _splits_its_batch(row: dict) -> bool:
    """Whether the row's model was timed in calls of fewer trajectories than the timed batch."""
    size = row.get("inference_call_batch")
    return size is not None and size < row.get("inference_batch", size)
