"""What a converter reads out of a foreign dataset file: ``ConvertedSource``, handed to the writer.

A converter (one module per format) opens its source, checks its layout (one clear ``InputError`` naming
what is wrong) and describes it as fields, coordinates, parameters and a stream of trajectory blocks,
without reading the arrays themselves until the writer asks for a block.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from solvers.errors import InputError


@dataclass(frozen=True)
class FieldSpec:
    """A field of the converted file: its name and tensor order (0 scalar, 1 vector of ``ndim`` components)."""

    name: str
    order: int = 0


@dataclass
class ConvertedSource:
    """A foreign dataset described for ``pde_data.convert.writer.write_converted``.

    Attributes:
        name: the dataset's name (The Well's ``dataset_name``).
        fields: the time-varying fields, in channel order.
        trajectories, steps, grid: counts and points per axis.
        times: ``(steps,)`` or ``(trajectories, steps)`` (in the converted order).
        coordinates: per axis ``(points,)`` or ``(trajectories, points)``.
        periodic: whether the domain is periodic (every axis).
        read_block: ``(start, stop)`` of the converted order -> ``{field: (b, steps, *grid[, ndim])}``.
        parameters: ``{name: scalar}`` shared, or ``{name: (trajectories,)}`` per trajectory.
        split: ``train`` (pdeop divides it 80 / 10 / 10), ``valid`` or ``test`` (all of it).
        source_index: each converted trajectory's index in the source.
        assumed: what the source does not say and the converter assumed.
    """

    name: str
    fields: list[FieldSpec]
    trajectories: int
    steps: int
    grid: tuple[int, ...]
    times: np.ndarray
    coordinates: dict[str, np.ndarray]
    periodic: bool
    read_block: Callable[[int, int], dict[str, np.ndarray]]
    parameters: dict[str, float | np.ndarray] = field(default_factory=dict)
    split: str = "train"
    source_index: np.ndarray | None = None
    assumed: list[str] = field(default_factory=list)

    def blocks(self, size: int) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
        for start in range(0, self.trajectories, size):
            stop = min(start + size, self.trajectories)
            yield start, stop, self.read_block(start, stop)


def unit_coordinates(points: int, periodic: bool) -> np.ndarray:
    """Cell coordinates on ``[0, 1)`` (periodic) or ``[0, 1]``, the convention when a source gives none."""
    return np.arange(points) / points if periodic else np.linspace(0.0, 1.0, points)


_PARAMETER = re.compile(r"^([A-Za-z]+)([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)$")


def parameters_from_name(path: Path) -> dict[str, float]:
    """Parameters that a file name carries as ``<name><number>`` tokens between underscores (PDEBench's
    convention: ``1D_Burgers_Sols_Nu0.001`` -> ``{"Nu": 0.001}``, ``2D_CFD_Rand_M0.1_Eta0.01`` -> M, Eta)."""
    found = {}
    for token in path.stem.split("_"):
        match = _PARAMETER.match(token)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


def require(condition: bool, path: Path, message: str) -> None:
    """One clear line when a source is not in the layout its format documents."""
    if not condition:
        raise InputError(f"{path}: {message}")
