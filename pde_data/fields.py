"""The one layout convention for fields, and the only place that converts between layouts.

Three layouts meet in pdeop:

- **solvers**: a state is one scalar field ``(batch, *grid)``; a derived vector field
  (e.g. Navier-Stokes velocity) is ``(batch, components, *grid)``.
- **files** (The Well's HDF5): a scalar field is ``t0_fields/<name>``
  ``(sample, time, *grid)``; a vector field is ``t1_fields/<name>``
  ``(sample, time, *grid, components)``, the component axis last.
- **operators and training**: ``(batch, time, channels, *grid)``.

Channels are the file's fields in The Well's order: every ``t0`` field (in the
group's ``field_names`` order), then each ``t1`` field's components in axis order
(``x, y, z``). A channel is named after its field (``vorticity``) or field and axis
(``velocity_x``). Statistics, losses and metrics are per channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import h5py
import numpy as np

AXES = "xyz"


@dataclass(frozen=True)
class Channel:
    """One channel: a scalar field, or one component of a vector field."""

    field: str
    component: int | None = None  # None for a scalar (t0) field

    @property
    def name(self) -> str:
        return self.field if self.component is None else f"{self.field}_{AXES[self.component]}"

    @property
    def group(self) -> str:
        return "t0_fields" if self.component is None else "t1_fields"


def channels_of(components: Mapping[str, int]) -> list[Channel]:
    """Channels of fields given as ``{name: components}`` (0 for a scalar), in The Well's order."""
    scalars = [Channel(name) for name, count in components.items() if count == 0]
    vectors = [Channel(name, c) for name, count in components.items() if count for c in range(count)]
    return scalars + vectors


def file_channels(f: h5py.File) -> list[Channel]:
    """The channels of an open dataset file (its ``t0_fields`` and ``t1_fields``)."""
    components: dict[str, int] = {}
    for group, order in (("t0_fields", 0), ("t1_fields", 1)):
        if group not in f:
            continue
        for name in f[group].attrs.get("field_names", list(f[group])):
            name = name.decode() if isinstance(name, bytes) else str(name)
            components[name] = f[group][name].shape[-1] if order else 0
    return channels_of(components)


def to_channels(fields: Mapping[str, np.ndarray], channels: Sequence[Channel], axis: int = 2) -> np.ndarray:
    """Stack fields in file layout (``(..., *grid)`` scalars, ``(..., *grid, d)`` vectors) into channels.

    The channel axis is inserted at ``axis`` (2 for ``(sample, time, channel, *grid)``,
    1 for one trajectory ``(time, channel, *grid)``).
    """
    arrays = [fields[c.field] if c.component is None else fields[c.field][..., c.component] for c in channels]
    return np.stack(arrays, axis=axis)


def from_channels(values: np.ndarray, channels: Sequence[Channel], axis: int = 2) -> dict[str, np.ndarray]:
    """The inverse of ``to_channels``: a dict of fields in file layout (vector components last)."""
    out, vectors = {}, {}
    for index, channel in enumerate(channels):
        value = np.take(values, index, axis=axis)
        if channel.component is None:
            out[channel.field] = value
        else:
            vectors.setdefault(channel.field, []).append(value)
    out.update({name: np.stack(parts, axis=-1) for name, parts in vectors.items()})
    return out


def read_channels(f: h5py.File, channels: Sequence[Channel], sample, frames=slice(None)) -> np.ndarray:
    """Frames of one or more trajectories from an open file as channels.

    ``sample`` an index (result ``(time, channels, *grid)``) or a list of indices
    (``(samples, time, channels, *grid)``); ``frames`` a slice or list of frame indices.
    """
    fields = {}
    for channel in channels:
        if channel.field not in fields:
            dataset = f[channel.group][channel.field]
            if isinstance(sample, (list, tuple, np.ndarray)):
                fields[channel.field] = np.stack([dataset[i][frames] for i in sample])
            else:
                fields[channel.field] = dataset[sample][frames]
    single = not isinstance(sample, (list, tuple, np.ndarray))
    return to_channels(fields, channels, axis=1 if single else 2)
