"""Predictors and ``operators.load``: a checkpoint names its predictor ``kind``, and the loader returns it.

Kinds: ``surrogate`` (``operators.Surrogate``: ``predict``), ``observer``
(``operators.Observer``: ``assimilate`` and ``predict``), ``autoencoder``
(``operators.Autoencoder``: ``encode``, ``decode``) and ``generator`` (``operators.Generator``:
``sample``). A predictor class registers with ``@register_predictor(kind)`` and
provides ``from_state(payload, device)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from operators.predictors.checkpoint import CheckpointError, load_checkpoint
from solvers.device import resolve_device
from solvers.errors import InputError, MissingFileError

_PREDICTORS: dict[str, type] = {}


def register_predictor(kind: str) -> Callable[[type], type]:
    """Class decorator: ``operators.load`` returns ``cls.from_state(payload)`` for checkpoints of ``kind``."""

    def decorate(cls: type) -> type:
        _PREDICTORS[kind] = cls
        return cls

    return decorate


def predictor_kinds() -> list[str]:
    return sorted(_PREDICTORS)


def checkpoint_file(path: str | Path) -> Path:
    """A checkpoint file itself, or a run directory's best checkpoint."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / "checkpoints" / "best.pt", path / "best.pt"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise MissingFileError(f"{path} is a folder without checkpoints/best.pt; is it a training run?")
        return found
    return path


def checkpoint_kind(payload: dict, path: str | Path) -> str:
    """The predictor kind a checkpoint holds (checkpoints from before kinds existed are surrogates)."""
    kind = payload.get("kind")
    if kind is None and "normalization" in payload and "model" in payload:
        kind = "surrogate"
    if kind not in _PREDICTORS:
        what = f"a {kind!r} checkpoint" if kind else "a checkpoint without a predictor kind"
        raise CheckpointError(
            f"{path} is {what}, not a predictor pdeop can load (predictors: {', '.join(predictor_kinds())})"
        )
    return kind


def load(path: str | Path, device: str | torch.device = "cpu"):
    """The predictor a checkpoint file (or a run directory's best checkpoint) holds, chosen by its ``kind``.

    ``best.pt`` and ``last.pt`` both load (``last.pt`` as the predictor of the last epoch).
    """
    path = checkpoint_file(path)
    return from_payload(load_checkpoint(path, map_location="cpu"), device, path)


def refuse_non_finite(name: str, values: torch.Tensor) -> None:
    """InputError naming the batch entries (first axis) of a predictor's input that hold NaN or infinity."""
    finite = torch.isfinite(values).flatten(1).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten().tolist()
        raise InputError(f"{name} contains non-finite values (NaN or infinity) in batch entries {bad[:10]}")


def from_payload(payload: dict, device: str | torch.device = "cpu", source: str | Path = "the checkpoint"):
    """The predictor a checkpoint payload (already read) describes; ``source`` names it in errors.
    ``device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (checked against this machine, before any weights move)."""
    return _PREDICTORS[checkpoint_kind(payload, source)].from_state(payload, resolve_device(device))
