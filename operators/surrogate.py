"""``Surrogate``: a trained model plus everything needed to use it for prediction.

A surrogate advances a field autoregressively: given the last ``history``
states ``(batch, history, channels, *grid)`` it predicts the next ``horizon``
states, and ``predict`` repeats this to any number of steps, each ``dt`` apart.
Normalisation (per-channel mean and std) is applied inside, so inputs and
outputs are in physical units.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from operators.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, tensor_state_dict
from operators.predictors import checkpoint_file, checkpoint_kind, register_predictor
from operators.registry import build
from solvers.errors import InputError

AUTOCAST = {None: None, "fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@register_predictor("surrogate")
class Surrogate:
    """A model with its normalisation and PDE metadata (the ``surrogate`` predictor kind).

    Args:
        model: maps ``(batch, history * channels, *grid)`` to ``(batch, horizon * channels, *grid)``
            in normalised units; built by ``operators.build`` (it carries ``pdeop_spec``).
        mean, std: per-channel normalisation ``(channels,)``.
        history: input states the model needs. horizon: states it predicts per call.
        residual: the model outputs the change from the last input state (added back here).
        metadata: plain data describing the PDE: ``equation``, ``coefficients``,
            ``length``, ``grid`` (points per axis), ``dt`` (time between states),
            ``field_names``, ``dataset`` ... (free-form, saved with the model).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        mean: torch.Tensor,
        std: torch.Tensor,
        history: int,
        horizon: int = 1,
        metadata: dict | None = None,
        residual: bool = False,
    ):
        if not hasattr(model, "pdeop_spec"):
            raise InputError("model must be built with operators.build so that it can be saved and rebuilt")
        self.model = model.eval()
        self.mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        self.std = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        self.history, self.horizon = int(history), int(horizon)
        self.metadata = dict(metadata or {})
        self.residual = bool(residual)

    @property
    def channels(self) -> int:
        return self.mean.numel()

    @property
    def resolution_agnostic(self) -> bool:
        """Whether the model accepts grids other than the training grid (of the same dimension)."""
        return bool(getattr(self.model, "pdeop_resolution_agnostic", False))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> Surrogate:
        self.model.to(device)
        return self

    # --- prediction ----------------------------------------------------------------------
    def _check_input(self, u0: torch.Tensor) -> None:
        if not isinstance(u0, torch.Tensor) or u0.dim() < 4:
            shape = tuple(u0.shape) if isinstance(u0, torch.Tensor) else type(u0).__name__
            raise InputError(f"u0 must be a tensor (batch, history, channels, *grid), got {shape}")
        if u0.shape[1] < self.history:
            raise InputError(
                f"this surrogate needs the last {self.history} states as input, got {u0.shape[1]} "
                f"(u0 has shape (batch, history, channels, *grid) = {tuple(u0.shape)})"
            )
        if u0.shape[2] != self.channels:
            raise InputError(f"expected {self.channels} channel(s) on axis 2, got {u0.shape[2]}")
        grid = self.metadata.get("grid")
        if grid is not None and tuple(u0.shape[3:]) != tuple(grid):
            if len(u0.shape[3:]) != len(grid):
                raise InputError(f"expected a {len(grid)}D grid like {tuple(grid)}, got {tuple(u0.shape[3:])}")
            if not self.resolution_agnostic:
                raise InputError(
                    f"expected a grid of {tuple(grid)}, got {tuple(u0.shape[3:])}: this "
                    f"{self.model.pdeop_spec['name']} model is tied to its training grid; resample the input "
                    f"with solvers.fourier_resample(u0, {tuple(grid)})"
                )

    def predict(self, u0: torch.Tensor, steps: int, precision: str | None = None) -> torch.Tensor:
        """The next ``steps`` states after ``u0``.

        Args:
            u0: the latest states ``(batch, history', channels, *grid)``, ``history' >= history``
                (the last ``history`` are used), in physical units.
            steps: number of future states (each ``dt`` apart).
            precision: ``None``/``"fp32"``, ``"bf16"`` or ``"fp16"`` autocast.

        Returns:
            ``(batch, steps, channels, *grid)`` float32 on the model's device.
        """
        self._check_input(u0)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise InputError(f"steps must be a positive integer, got {steps!r}")
        if precision not in AUTOCAST:
            raise InputError(f"precision must be one of fp32, bf16, fp16, got {precision!r}")
        device = self.device
        mean = self.mean.to(device).reshape(1, 1, -1, *(1,) * (u0.dim() - 3))
        std = self.std.to(device).reshape(mean.shape)
        window = (u0[:, -self.history :].to(device=device, dtype=torch.float32) - mean) / std
        outputs = []
        with torch.inference_mode(), _autocast(device, AUTOCAST[precision]):
            produced = 0
            while produced < steps:
                nxt = self.step_normalized(window)
                outputs.append(nxt)
                window = torch.cat([window, nxt], dim=1)[:, -self.history :]
                produced += nxt.shape[1]
        prediction = torch.cat(outputs, dim=1)[:, :steps].float()
        return prediction * std + mean

    def step_normalized(self, window: torch.Tensor) -> torch.Tensor:
        """One model call: ``(batch, history, channels, *grid)`` -> ``(batch, horizon, channels, *grid)``, normalised."""
        return model_step(self.model, window, self.history, self.horizon, self.residual)

    # --- files ---------------------------------------------------------------------------
    def state(self) -> dict:
        """The checkpoint payload (tensors and plain data only)."""
        return {
            "kind": "surrogate",
            "model": self.model.pdeop_spec,
            "state_dict": tensor_state_dict(self.model),
            "normalization": {"mean": self.mean.cpu(), "std": self.std.cpu()},
            "history": self.history,
            "horizon": self.horizon,
            "residual": self.residual,
            "metadata": self.metadata,
        }

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint that ``Surrogate.load`` reads (atomically)."""
        return save_checkpoint(self.state(), path)

    @classmethod
    def from_state(cls, payload: dict, device: str | torch.device = "cpu") -> Surrogate:
        try:
            spec = payload["model"]
            model = build(spec["name"], **spec["hyperparameters"])
            model.load_state_dict(payload["state_dict"])
            normalization = payload["normalization"]
            surrogate = cls(
                model,
                normalization["mean"],
                normalization["std"],
                payload["history"],
                payload["horizon"],
                payload["metadata"],
                residual=payload.get("residual", False),
            )
        except KeyError as error:
            raise CheckpointError(f"checkpoint lacks the field {error}; is it a model checkpoint?") from error
        return surrogate.to(device)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Surrogate:
        """Load from a checkpoint file (``best.pt`` or ``last.pt``), or a run directory (its best checkpoint)."""
        path = checkpoint_file(path)
        payload = load_checkpoint(path, map_location="cpu")
        kind = checkpoint_kind(payload, path)
        if kind != "surrogate":
            raise CheckpointError(f"{path} holds a {kind!r} predictor, not a surrogate; load it with operators.load")
        return cls.from_state(payload, device)

    def __repr__(self) -> str:
        spec = self.model.pdeop_spec
        return (
            f"Surrogate({spec['name']}, history={self.history}, horizon={self.horizon}, "
            f"channels={self.channels}, equation={self.metadata.get('equation')!r}, dt={self.metadata.get('dt')})"
        )


def model_step(
    model: torch.nn.Module, window: torch.Tensor, history: int, horizon: int, residual: bool
) -> torch.Tensor:
    """One call of an autoregressive model on normalised states.

    ``window`` ``(batch, history, channels, *grid)`` is flattened to channels; the output
    ``(batch, horizon * channels, *grid)`` is unflattened to ``(batch, horizon, channels, *grid)``
    and, for residual models, added to the last input state. Shared by training and prediction.
    """
    batch, _, channels, *grid = window.shape
    out = model(window[:, -history:].reshape(batch, history * channels, *grid))
    out = out.reshape(batch, horizon, channels, *grid).float()
    return out + window[:, -1:].float() if residual else out


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return torch.autocast(device.type, enabled=False)
    if dtype == torch.float16 and device.type != "cuda":
        raise InputError("fp16 autocast needs a CUDA device; use bf16 on the CPU")
    return torch.autocast(device.type, dtype=dtype)


def timed_predict(surrogate: Surrogate, u0: torch.Tensor, steps: int, precision: str | None = None):
    """``(prediction, seconds)``, synchronising CUDA so the time is real."""
    if surrogate.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    prediction = surrogate.predict(u0, steps, precision)
    if surrogate.device.type == "cuda":
        torch.cuda.synchronize()
    return prediction, time.perf_counter() - start
