"""The bench's suites and tiers: which problem a suite is, how big a tier makes it, and which models
can be benched (each declares its ``operators.BenchSetup`` where it registers)."""

from __future__ import annotations

import dataclasses

import operators
import pde_data
from operators.registry import BenchSetup, bench_setup
from pde_data.recipes import Recipe
from solvers.errors import InputError

#: suite name -> the preset it is built from
SUITES = {
    "burgers": "burgers-fno",
    "ns-1e-3": "ns-fno-1e-3",
    "ns-1e-5": "ns-fno-1e-5",
    "ks": "ks-lpsda",
    "kdv": "kdv-lpsda",
}
TIERS = ("tiny", "cpu-small", "paper")
BUDGETS = ("epochs", "seconds", "parameters")

#: tier -> epochs (paper: the config's own) and trajectories per split (paper: the preset's)
TIER_EPOCHS = {"tiny": 1, "cpu-small": 20, "paper": None}
TIER_SAMPLES = {"tiny": {"train": 10, "valid": 2, "test": 2}, "cpu-small": {"train": 80, "valid": 10, "test": 10}}


def suite_recipe(suite: str, tier: str) -> Recipe:
    """The recipe of ``suite`` (a ``SUITES`` name or any preset's) at ``tier``: ``paper`` the preset itself,
    ``tiny`` its ``-tiny`` variant, ``cpu-small`` its ``-cpu-small`` variant where it has one, else the tiny
    variant's grid and horizon; the small tiers with ``TIER_SAMPLES`` trajectories."""
    name = SUITES.get(suite, suite)
    if name not in pde_data.presets():
        raise InputError(
            f"unknown suite {suite!r}; known: {', '.join(SUITES)}, any preset (pdeop generate --help) "
            "or a Well dataset directory"
        )
    if tier not in TIERS:
        raise InputError(f"unknown tier {tier!r}; known: {', '.join(TIERS)}")
    if tier == "paper":
        return pde_data.preset(name)
    sized = _variant(name, "cpu-small") if tier == "cpu-small" else None
    sized = sized or _variant(name, "tiny") or pde_data.preset(name)
    return dataclasses.replace(sized, name=f"{name}-{tier}", samples=dict(TIER_SAMPLES[tier]))


def _variant(name: str, size: str) -> Recipe | None:
    variant = f"{name}-{size}"
    return pde_data.preset(variant) if variant in pde_data.presets() else None


def tier_hyperparameters(small: dict, tier: str) -> dict:
    """A setup's ``cpu-small`` hyperparameters at ``tier``: as they are, halved for ``tiny``, none for ``paper``
    (the shipped config's own)."""
    if tier == "paper":
        return {}
    return {k: _shrunk(v) for k, v in small.items()} if tier == "tiny" else dict(small)


def _shrunk(value):
    """Tiny tier: widths halved (at least 4); nested specs shrunk too."""
    if isinstance(value, dict):
        return {k: _shrunk(v) for k, v in value.items()}
    return max(4, value // 2) if isinstance(value, int) and not isinstance(value, bool) and value >= 8 else value


def benchable() -> list[str]:
    """The registered models with a bench setup (declared where each registers: ``operators.BenchSetup``)."""
    return [name for name in operators.available() if isinstance(bench_setup(name), BenchSetup)]


def setup_of(model: str) -> BenchSetup:
    """``model``'s bench setup; an input error naming why there is none and what can be benched."""
    setup = bench_setup(model)
    if isinstance(setup, BenchSetup):
        return setup
    reason = f" ({setup})" if isinstance(setup, str) else " (it declares no bench setup)"
    raise InputError(f"cannot bench {model}{reason}; benchable: {', '.join(benchable())}")
