"""Shared by the benchmark scripts: contestants timed in turns, and the JSON result file."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

Result = TypeVar("Result")


def take_turns(runs: dict[str, Callable[[], Result]], repeats: int) -> dict[str, list[Result]]:
    """Each run's results over ``repeats`` rounds in which every run goes once, in turn, so that a
    change in the machine's speed during the benchmark (another tenant, turbo, heat) falls on every
    contestant alike and per-round ratios stay comparable."""
    results: dict[str, list[Result]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            results[name].append(run())
    return results


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """The median of the per-round ratios of two contestants' times (see ``take_turns``)."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def write_json(results, path: str | Path) -> Path:
    """Write ``results`` (JSON-able) to ``path``, creating its folder, and say so."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")
    return path
