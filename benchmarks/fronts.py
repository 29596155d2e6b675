"""Error-cost fronts per model family across several benches of one suite (issue 28's sweeps).

    python benchmarks/fronts.py benchmarks/results/bench-ns-1e-3 benchmarks/results/bench-ns-1e-3-500k \
        benchmarks/results/bench-ns-1e-3-100k benchmarks/results/bench-ns-1e-3-bundle5 \
        benchmarks/results/bench-ns-1e-3-direct-e200 --models fno unet mgno --out benchmarks/results/fronts-ns-1e-3

Each bench folder (``pdeop bench``: a parameter budget, ``--bundle`` or ``--direct``) gives every model a
point (inference seconds per trajectory, rollout relative L2). Points of one family that predict one state
per call trace its parameter sweep; bundled and direct points are drawn apart, as other levers on the same
family. The first folder's solver ladder is the solver's own front (its cheapest rung at each accuracy).
Prints the table, writes ``OUT.json`` and ``OUT.png``. Compare times only between benches timed on a
quiet machine (``pdeop bench --retime``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import _common
import numpy as np
from matplotlib.figure import Figure

from training.bench.leaderboard import main_ladder

FAMILY_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def lever(bench: dict) -> str:
    """What a bench changed about each call: ``one state``, ``bundle K`` or ``direct``."""
    if bench.get("direct"):
        return "direct"
    return f"bundle {bench['bundle']}" if bench.get("bundle", 1) > 1 else "one state"


def budget(bench: dict) -> str:
    """The bench's budget as its command gave it: ``epochs=tier``, ``parameters=500000``."""
    value = bench.get("budget_value")
    return f"{bench.get('budget', 'epochs')}={f'{value:g}' if value else 'tier'}"


def points(folders: list[Path], models: list[str] | None) -> list[dict]:
    """Every finished row of ``folders`` (``leaderboard.json``) as a point with its bench's settings."""
    out = []
    for folder in folders:
        board = json.loads((folder / "leaderboard.json").read_text())
        bench = board["bench"]
        for row in board["rows"]:
            if (models and row["model"] not in models) or not row.get("inference_seconds_per_trajectory"):
                continue
            out.append(
                {
                    "model": row["model"],
                    "lever": lever(bench),
                    "budget": budget(bench),
                    "parameters": row["parameters"],
                    "rollout": row["relative_l2_rollout"],
                    "seconds": row["inference_seconds_per_trajectory"],
                    "solver_speedup": row.get("solver_seconds_per_trajectory", np.nan)
                    / row["inference_seconds_per_trajectory"],
                    "equal_accuracy_speedup": row.get("speedup_equal_accuracy"),
                    "bench": str(folder),
                }
            )
    return out


def plot(rows: list[dict], ladder: dict | None, path: Path) -> None:
    fig = Figure(figsize=(7, 4.8), layout="constrained")
    ax = fig.subplots()
    markers = {"one state": "-o", "direct": "^"}  # bundles: diamonds; a family keeps its colour (red: the solver)
    colours = dict(zip(sorted({r["model"] for r in rows}), FAMILY_COLOURS, strict=False))
    for (model, way), group in _groups(rows).items():
        group = sorted(group, key=lambda r: r["seconds"])
        seconds, errors = [r["seconds"] for r in group], [r["rollout"] for r in group]
        style = markers.get(way, "D")
        ax.plot(seconds, errors, style, color=colours.get(model, "k"), markersize=5, label=f"{model}, {way}")
    if ladder:
        stable = sorted((r["seconds_per_trajectory"], r["relative_l2_rollout"]) for r in ladder["rungs"] if r["stable"])
        front, best = [], np.inf
        for seconds, error in stable:
            if 0 < error < best:
                front.append((seconds, error))
                best = error
        if front:
            ax.plot(*zip(*front, strict=True), "-s", color="tab:red", markersize=4, label="solver ladder")
    ax.axhline(0.05, color="grey", linestyle=":", linewidth=1, label="5 % error")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="inference seconds per trajectory", ylabel="rollout relative L2", title="error-cost fronts")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.savefig(path, dpi=110, bbox_inches="tight")


def _groups(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["lever"]), []).append(row)
    return groups


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="bench folders of one suite")
    parser.add_argument("--models", nargs="+", default=None, help="default: every model")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fronts"))
    args = parser.parse_args(argv)
    rows = points(args.folders, args.models)
    rows.sort(key=lambda r: (r["model"], r["lever"], r["seconds"]))
    print(f"{'model':<10} {'lever':<10} {'budget':<20} {'params':>10} {'rollout':>8} {'s/traj':>9} {'vs solver':>9}")
    for r in rows:
        print(
            f"{r['model']:<10} {r['lever']:<10} {r['budget']:<20} {r['parameters']:>10,} {r['rollout']:>8.4f} "
            f"{r['seconds']:>9.2e} {r['solver_speedup']:>8.2f}x"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, main_ladder(args.folders[0]), args.out.with_suffix(".png"))
    _common.write_json({"folders": [str(f) for f in args.folders], "rows": rows}, args.out.with_suffix(".json"))
    return rows


if __name__ == "__main__":
    main()
