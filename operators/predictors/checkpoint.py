"""Checkpoint files: atomic writes and safe reads (``torch.load(weights_only=True)``).

A checkpoint is a dict of tensors and plain data (str, int, float, bool, None,
lists, dicts): the model's registry name and hyperparameters, its state dict,
and whatever else the writer adds. Nothing is unpickled beyond that, so a file
from an untrusted source cannot run code.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import torch

from solvers.errors import InputError, MissingFileError

FORMAT = "pdeop-checkpoint"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
VERSION = 1


class CheckpointError(InputError):
    """A checkpoint that cannot be read safely or is not a pdeop checkpoint."""


@contextmanager
def payload_errors(kind: str) -> Iterator[None]:
    """Inside: reading a predictor's payload. A missing field or weights that do not fit the model
    become one ``CheckpointError`` line (``kind``: "a surrogate", "an observer" ...)."""
    try:
        yield
    except KeyError as error:
        raise CheckpointError(f"checkpoint lacks the field {error}; is it {kind} checkpoint?") from error
    except (RuntimeError, TypeError, AttributeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"the checkpoint's weights do not fit its model ({first})") from error


def rebuilt_model(payload: dict) -> torch.nn.Module:
    """The registered model a payload names (``model``: name and hyperparameters) with its ``state_dict``."""
    from operators.registry import build

    spec = payload["model"]
    model = build(spec["name"], **spec["hyperparameters"])
    model.load_state_dict(payload["state_dict"])
    return model


def tensor_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A module's state dict with tensors only, on the CPU.

    neuraloperator adds a ``_metadata`` entry of Python objects to its models'
    state dicts (which ``weights_only`` loading refuses); everything needed to
    rebuild a model is in our own ``model`` spec instead. (With two of its models inside
    one module it warns that the entry exists already; we drop it anyway.)
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Attempting to update metadata")
        state = module.state_dict()
    return {k: v.detach().cpu() for k, v in state.items() if isinstance(v, torch.Tensor)}


def save_checkpoint(payload: dict, path: str | Path) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, rename).

    A Ctrl-C that lands during the write is held back until the file is complete and
    renamed, then raised: no traceback from inside torch's writer, no partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with interrupts_deferred(), open(temporary, "wb") as handle:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, handle)
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(temporary, path)
    finally:
        with suppress(FileNotFoundError):
            temporary.unlink()
    return path


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT (Ctrl-C) until the block ends, then raise KeyboardInterrupt (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by ``save_checkpoint``, refusing anything but tensors and plain data."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no checkpoint at {path}")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if not head:
        raise CheckpointError(f"{path} is empty (0 bytes): not a checkpoint")
    if head == HDF5_SIGNATURE:
        raise CheckpointError(f"{path} is an HDF5 file (a dataset or predictions?), not a torch checkpoint")
    if not head.startswith(b"PK"):
        raise CheckpointError(
            f"{path} is not a readable torch checkpoint (torch.save writes zip archives; this is not one)"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"refusing to load {path}: it contains pickled Python objects, and only tensors and plain data "
            "are loaded (weights_only)"
        ) from error
    except (RuntimeError, EOFError, OSError, KeyError, ValueError, IndexError) as error:
        raise CheckpointError(f"{path} is not a readable torch checkpoint ({_first_line(error)})") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a pdeop checkpoint (no '{FORMAT}' marker)")
    return payload
