"""Observation models for data assimilation: where, when and how noisily states are observed.

An ``ObservationModel`` turns true states ``(time, channels, *grid)`` into
observations on the same grid: ``values`` (the state plus Gaussian noise where
observed, zero elsewhere) and a ``mask`` ``(time, 1, *grid)`` (1 where a sensor
reads at that frame; every channel is read at a sensor). Choices:

- **where** (``layout``): ``random`` sensors at a fraction ``sensors`` of the grid
  points, the same for every trajectory of a dataset (drawn from ``seed``);
  ``random-per-trajectory``, redrawn for each trajectory; ``grid``, a regular
  sub-grid of about that fraction (every ``round(sensors^(-1/d))``-th point per axis);
- **how noisily** (``noise``, ``noise_kind``): additive Gaussian noise with standard
  deviation ``noise`` (``absolute``) or ``noise`` times the channel's standard
  deviation over the trajectory (``relative``);
- **when**: every ``every``-th frame from frame 0, or (``rate`` set) each frame
  independently with probability ``rate`` (irregular times).

Everything is seeded per trajectory (``seed`` and the trajectory's index), so the
same seed gives the same observations. ``write_observations`` stores them beside
a trajectory file (``pdeop observe``): values, mask, the observed frames' times,
and the model's parameters as attributes; ``read_observations`` reads them back.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from pde_data.loading import FileData
from pde_data.storage import atomic_output, exclusive_output, file_identity, open_hdf5
from solvers.errors import InputError

LAYOUTS = ("random", "random-per-trajectory", "grid")
NOISE_KINDS = ("relative", "absolute")


@dataclass(frozen=True)
class ObservationModel:
    """See the module docstring. ``sensors`` in (0, 1]; ``noise`` >= 0; ``every`` >= 1; ``rate`` in (0, 1]."""

    sensors: float = 0.1
    layout: str = "random"
    noise: float = 0.0
    noise_kind: str = "relative"
    every: int = 1
    rate: float | None = None
    seed: int = 0

    def __post_init__(self):
        if not (isinstance(self.sensors, (int, float)) and 0 < self.sensors <= 1):
            raise InputError(f"sensors must be a fraction of grid points in (0, 1], got {self.sensors!r}")
        if self.layout not in LAYOUTS:
            raise InputError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if not (isinstance(self.noise, (int, float)) and math.isfinite(self.noise) and self.noise >= 0):
            raise InputError(f"noise must be a finite number >= 0, got {self.noise!r}")
        if self.noise_kind not in NOISE_KINDS:
            raise InputError(f"noise_kind must be one of {', '.join(NOISE_KINDS)}, got {self.noise_kind!r}")
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise InputError(f"every must be a positive integer (observe every k-th frame), got {self.every!r}")
        if self.rate is not None and not (isinstance(self.rate, (int, float)) and 0 < self.rate <= 1):
            raise InputError(f"rate must be a probability in (0, 1], got {self.rate!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    # --- the three choices -----------------------------------------------------------------
    def sensor_mask(self, grid: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Where sensors sit: ``(*grid)`` float, 1 at sensors (at least one)."""
        if self.layout == "grid":
            step = max(1, round(self.sensors ** (-1 / len(grid))))
            mask = torch.zeros(grid)
            mask[tuple(slice(None, None, step) for _ in grid)] = 1
            return mask
        points = math.prod(grid)
        count = max(1, round(self.sensors * points))
        mask = torch.zeros(points)
        mask[torch.randperm(points, generator=generator)[:count]] = 1
        return mask.reshape(grid)

    def observed_frames(self, frames: int, generator: torch.Generator) -> torch.Tensor:
        """When: ``(frames,)`` bool."""
        if self.rate is None:
            return torch.arange(frames) % self.every == 0
        return torch.rand(frames, generator=generator) < self.rate

    def observe(
        self, states: torch.Tensor, index: int = 0, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Observations of one trajectory ``(time, channels, *grid)``: ``(values, mask)``.

        ``values`` has the states' shape (zero where not observed), ``mask`` is
        ``(time, 1, *grid)``. ``index``: the trajectory's index, which seeds its draws
        (``generator`` instead: draw from it, as training does on the fly).
        """
        if states.dim() < 3:
            raise InputError(f"states must be (time, channels, *grid), got shape {tuple(states.shape)}")
        frames, grid = states.shape[0], tuple(states.shape[2:])
        if generator is None:
            generator = torch.Generator().manual_seed(trajectory_seed(self.seed, index))
        if self.layout == "random":  # the dataset's sensors: from the seed alone
            sensors = self.sensor_mask(grid, torch.Generator().manual_seed(self.seed))
        else:
            sensors = self.sensor_mask(grid, generator)
        when = self.observed_frames(frames, generator).to(states.dtype)
        mask = when.reshape(frames, 1, *(1,) * len(grid)) * sensors.to(states.dtype)[None, None]
        scale = self.noise
        if self.noise_kind == "relative":
            scale = self.noise * states.transpose(0, 1).flatten(1).std(dim=1).reshape(1, -1, *(1,) * len(grid))
        noise = torch.randn(states.shape, generator=generator, dtype=states.dtype) * scale
        return (states + noise) * mask, mask


def trajectory_seed(seed: int, index: int) -> int:
    """The seed of trajectory ``index``'s draws (distinct streams per trajectory)."""
    return (int(seed) * 1_000_003 + int(index) * 7919 + 17) % (2**63 - 1)


# --- files ---------------------------------------------------------------------------------------
def write_observations(
    data: str | Path, out: str | Path, model: ObservationModel, split: str | None = None, overwrite: bool = False
) -> Path:
    """Observe every trajectory of ``split`` of ``data`` and write ``out`` (atomically).

    ``out`` holds ``values`` ``(samples, time, channels, *grid)`` float32, ``mask``
    ``(samples, time, *grid)`` uint8, ``times`` ``(samples, time)``, ``sample_index``,
    and the attributes ``observation_model`` (JSON), ``source`` and ``source_identity``.
    """
    with exclusive_output(out, overwrite, "observing to") as out:
        source = FileData(data, split=split)
        with atomic_output(out, overwrite) as temporary, h5py.File(temporary, "w") as f:
            first = source.read(source.samples[0])
            shape = (len(source.samples), *first.shape)
            values = f.create_dataset("values", shape, dtype="float32")
            mask = f.create_dataset("mask", (shape[0], shape[1], *shape[3:]), dtype="uint8")
            times = f.create_dataset("times", (shape[0], shape[1]), dtype="float64")
            for row, sample in enumerate(source.samples):
                observed, where = model.observe(source.read(sample).double(), sample)
                values[row] = observed.float().numpy()
                mask[row] = where[:, 0].to(torch.uint8).numpy()
                times[row] = np.asarray(source.frame_times(sample), dtype=np.float64)
            f["sample_index"] = np.asarray(source.samples, dtype=np.int64)
            f.attrs["observation_model"] = json.dumps(model.to_dict())
            f.attrs["source"] = str(Path(data).resolve())
            f.attrs["source_identity"] = json.dumps(file_identity(data))
            f.attrs["channels"] = json.dumps(source.channel_names)
        return out


def read_observations(path: str | Path) -> dict:
    """An observation file: ``values``, ``mask`` (``(samples, time, 1, *grid)`` float32), ``times``,
    ``sample_index`` (tensors) and ``model`` (the ``ObservationModel``), ``source``."""
    with open_hdf5(path, "observation file") as f:
        missing = [key for key in ("values", "mask", "times", "sample_index") if key not in f]
        if missing or "observation_model" not in f.attrs:
            raise InputError(f"{path} is not an observation file (see 'pdeop observe'): it lacks {missing}")
        return {
            "values": torch.from_numpy(f["values"][()]),
            "mask": torch.from_numpy(f["mask"][()].astype(np.float32)).unsqueeze(2),
            "times": torch.from_numpy(f["times"][()]),
            "sample_index": [int(i) for i in f["sample_index"][()]],
            "model": ObservationModel(**json.loads(f.attrs["observation_model"])),
            "source": str(f.attrs.get("source", "")),
            "source_identity": json.loads(f.attrs["source_identity"]) if "source_identity" in f.attrs else None,
        }


def check_observations_of(observations: str | Path, stored: dict, data: str | Path) -> None:
    """InputError unless the observation file ``observations`` (``stored``: ``read_observations``' result) was made
    from ``data``: its recorded source identity must be ``data``'s (files written before identities were
    recorded are taken as they are)."""
    recorded, actual = stored.get("source_identity"), file_identity(data)

    def content(identity: dict) -> dict:  # a copy or a move of the same file is the same data
        return {k: v for k, v in identity.items() if k != "path"}

    if recorded is not None and content(recorded) != content(actual):
        source = Path(stored.get("source") or "another file").name
        raise InputError(
            f"{observations} observes {source} ({recorded.get('dataset', '?')}), not {data} "
            f"({actual['dataset']}): pass the --data it was made from, or observe this one with "
            f"pdeop observe {data} --out FILE"
        )
