"""Checkpoint files: atomic writes and safe reads (``torch.load(weights_only=True)``).

A checkpoint is a dict of tensors and plain data (str, int, float, bool, None,
lists, dicts): the model's registry name and hyperparameters, its state dict,
and whatever else the writer adds. Nothing is unpickled beyond that, so a file
from an untrusted source cannot run code.
"""

from __future__ import annotations

import os
import pickle
from contextlib import suppress
from pathlib import Path

import torch

from solvers.errors import InputError, MissingFileError

FORMAT = "pdeop-checkpoint"
VERSION = 1


class CheckpointError(InputError):
    """A checkpoint that cannot be read safely or is not a pdeop checkpoint."""


def tensor_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A module's state dict with tensors only, on the CPU.

    neuraloperator adds a ``_metadata`` entry of Python objects to its models'
    state dicts (which ``weights_only`` loading refuses); everything needed to
    rebuild a model is in our own ``model`` spec instead.
    """
    return {k: v.detach().cpu() for k, v in module.state_dict().items() if isinstance(v, torch.Tensor)}


def save_checkpoint(payload: dict, path: str | Path) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        with suppress(FileNotFoundError):
            temporary.unlink()
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by ``save_checkpoint``, refusing anything but tensors and plain data."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"refusing to load {path}: it contains pickled Python objects, and only tensors and plain data "
            "are loaded (weights_only)"
        ) from error
    except (RuntimeError, EOFError, OSError, KeyError, ValueError, IndexError) as error:
        raise CheckpointError(f"{path} is not a readable torch checkpoint ({str(error).splitlines()[0]})") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a pdeop checkpoint (no '{FORMAT}' marker)")
    return payload
