"""``pdeop sample``: trajectories from a trained generator, written in the dataset format.

The file is an ordinary pdeop dataset (The Well's layout, readable by ``pde_data.open`` and
``pdeop plot``): the generator's training recipe with the generated frame count, no per-sample
parameters (a prompt is not a parameter set), the prompt or the first frame's source as each
trajectory's caption, and root attributes ``source = "generator"``, ``run``, ``steps``,
``guidance`` and ``sample_seed``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

import operators
import pde_data
from pde_data.fields import from_channels
from pde_data.recipes import Recipe
from pde_data.storage import exclusive_output, write_well_file
from solvers.device import resolve_device
from solvers.errors import InputError


def first_frames(data: str | Path, samples: list[int]) -> tuple[torch.Tensor, list[str]]:
    """Frame 0 of trajectories ``samples`` of a dataset file ``(len(samples), C, *grid)`` and their captions."""
    dataset = pde_data.FullTrajectoryDataset(data)
    bad = [s for s in samples if not 0 <= s < len(dataset)]
    if bad:
        raise InputError(f"{data} holds trajectories 0..{len(dataset) - 1}; --sample {bad[0]} is not one of them")
    frames = torch.stack([dataset.read(s, [0])[0] for s in samples])
    captions = [str(dataset.captions[s]) for s in samples]
    return frames, captions


def sample_to_file(
    run: str | Path,
    out: str | Path,
    prompt: str | None = None,
    data: str | Path | None = None,
    sample_indices: list[int] | None = None,
    samples: int = 1,
    steps: int = 50,
    guidance: float = 1.0,
    eta: float = 0.0,
    seed: int = 0,
    device: str = "cpu",
    overwrite: bool = False,
) -> str:
    """Generate trajectories with the generator of ``run`` and write them to ``out``; a one-line summary."""
    with exclusive_output(out, overwrite, "sampling to") as out:
        generator = operators.load(run, device=resolve_device(device))
        if not isinstance(generator, operators.Generator):
            raise InputError(f"{run} is not a generator run (its checkpoint holds: {type(generator).__name__})")
        if generator.condition == "text":
            if prompt is None or data is not None:
                raise InputError("this generator is conditioned on text: give --prompt (and no --first-frame)")
            trajectories = generator.sample(
                prompt=prompt, samples=samples, steps=steps, guidance=guidance, eta=eta, seed=seed
            )
            captions = [prompt] * samples
        else:
            if data is None or prompt is not None:
                raise InputError("this generator is conditioned on a first frame: give --first-frame DATA --sample I")
            indices = sample_indices or [0]
            frames, sources = first_frames(data, indices)
            trajectories = generator.sample(
                first_frame=frames, samples=samples, steps=steps, guidance=guidance, eta=eta, seed=seed
            )
            captions = [
                f"Generated from the first frame of {data} trajectory {i}: {c}"
                for i, c in zip(indices, sources, strict=True)
                for _ in range(samples)
            ]
        _write(
            out,
            generator,
            trajectories.cpu(),
            captions,
            {"run": str(run), "steps": steps, "guidance": guidance, "eta": eta, "sample_seed": seed},
            overwrite,
        )
        return f"wrote {out}: {trajectories.shape[0]} trajectories x {trajectories.shape[1]} frames"


def _write(
    out: Path,
    generator: operators.Generator,
    trajectories: torch.Tensor,
    captions: list[str],
    extra: dict,
    replace: bool,
):
    metadata = generator.metadata
    if "recipe" not in metadata:
        raise InputError("the generator's checkpoint does not record its training recipe; retrain it with this pdeop")
    recipe = Recipe.from_dict(metadata["recipe"])
    frames = trajectories.shape[1]
    dt = float(metadata.get("dt") or recipe.t_end / (recipe.total_frames - 1))
    layout = dataclasses.replace(
        recipe,
        varying={},
        total_frames=max(frames, 2),
        kept_frames=frames,
        t_end=dt * (max(frames, 2) - 1),
        time_jitter=0.0,
        length_jitter=0.0,
    )
    n = trajectories.shape[0]
    block = {
        "fields": from_channels(trajectories.numpy().astype(np.float32), layout.channels),
        "sample_index": np.arange(n, dtype=np.int64),
        "seed": np.full(n, extra["sample_seed"], dtype=np.uint64),
        "length": np.full(n, layout.length),
        "time": np.broadcast_to(dt * np.arange(frames), (n, frames)),
        "caption": captions,
    }
    write_well_file(out, layout, n, [block], {"source": "generator", "seed": 0, "split": "test", **extra}, replace)
