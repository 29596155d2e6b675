"""``Observer``: a trained semilinear observer (``operators.models.observer``) as a predictor:
``assimilate`` observations, or ``predict`` without them (the paper's forecast-only mode)."""

from __future__ import annotations

import torch

from operators.models.observer import SemilinearObserver
from operators.predictors.call_batches import check_call_batch, in_call_batches, trajectories_per_call
from operators.predictors.checkpoint import (
    CheckpointError,
    load_checkpoint,
    payload_errors,
    rebuilt_model,
    save_checkpoint,
    tensor_state_dict,
)
from operators.predictors.forecaster import refuse_surrogate_options
from operators.predictors.registry import checkpoint_file, checkpoint_kind, register_predictor
from solvers.errors import InputError


@register_predictor("observer")
class Observer:
    """A trained semilinear observer: ``assimilate`` observations, or ``predict`` without them.

    States are physical ``(batch, time, channels, *grid)``; ``metadata`` as a ``Surrogate``'s.
    """

    def __init__(self, model: SemilinearObserver, metadata: dict | None = None):
        if not hasattr(model, "pdeop_spec"):
            raise InputError("model must be built with operators.build so that it can be saved and rebuilt")
        self.model, self.metadata = model.eval(), dict(metadata or {})
        self.fast, self.call_batch = True, "auto"

    def fast_inference(self, enabled: bool = True, call_batch: int | str | None = "auto") -> Observer:
        """As ``Surrogate.fast_inference``: on the CPU ``predict`` rolls a large batch out in cache-sized
        groups of trajectories (``operators.predictors.call_batches``; results equal up to float rounding);
        ``False``, or ``call_batch=None``, the whole batch per call. Returns ``self``."""
        check_call_batch(call_batch)
        self.fast, self.call_batch = bool(enabled), call_batch
        return self

    def trajectories_per_call(self, states: torch.Tensor) -> int:
        """Trajectories of ``states`` ``(batch, history, channels, *grid)`` per forecast call."""
        return trajectories_per_call(states, self.call_batch, self.fast, self.device)

    @property
    def device(self) -> torch.device:
        return self.model.mean.device

    def to(self, device) -> Observer:
        self.model.to(device)
        return self

    def initial_guess(self, like: torch.Tensor) -> torch.Tensor:
        """The climatological guess: every point at its channel's training mean, ``like``'s shape ``(batch, C, *grid)``."""
        return self.model.mean.reshape(1, -1, *(1,) * self.model.ndim).expand_as(like).to(like.dtype).clone()

    def _check(self, values: torch.Tensor, mask: torch.Tensor) -> None:
        layout = "(batch, time, channels, *grid)"
        if not isinstance(values, torch.Tensor) or values.dim() != 3 + self.model.ndim:
            raise InputError(f"observations must be a tensor {layout} with {3 + self.model.ndim} axes")
        if values.shape[2] != self.model.channels:
            raise InputError(f"expected {self.model.channels} channel(s) on axis 2, got {values.shape[2]}")
        expected = (*values.shape[:2], 1, *values.shape[3:])
        if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != expected:
            raise InputError(
                f"mask must have shape {expected} (1 where a sensor reads), got {getattr(mask, 'shape', mask)}"
            )
        if not bool(torch.isfinite(values * mask).all()):
            raise InputError("observations hold non-finite values where the mask is set")

    def assimilate(
        self, values: torch.Tensor, mask: torch.Tensor, steps: int = 0, initial: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Analysed states over the observation window and ``steps`` forecasts after it.

        Args:
            values: observations ``(batch, T, C, *grid)`` at the model's frame spacing (zero where unobserved).
            mask: ``(batch, T, 1, *grid)``, 1 where a sensor reads (a frame of zeros: no observation then).
            steps: forecast states after the window.
            initial: the guess at the first frame ``(batch, C, *grid)`` (default the training mean).

        Returns:
            ``(batch, T + steps, C, *grid)`` float32.
        """
        self._check(values, mask)
        device = self.device
        values, mask = values.to(device, torch.float32), mask.to(device, torch.float32)
        initial = self.initial_guess(values[:, 0]) if initial is None else initial.to(device, torch.float32)
        with torch.inference_mode():
            states, _ = self.model(initial, values * mask, mask)
            return torch.cat([states, self._forecast(states[:, -1], steps)], dim=1)

    #: a forecaster (``operators.predictors.forecaster``) that reads the last state
    history = 1

    def predict(
        self, u0: torch.Tensor, steps: int, precision: str | None = None, constant: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Forecast only (no observations): the ``steps`` states after ``u0`` ``(batch, history, C, *grid)``."""
        refuse_surrogate_options("an observer", precision, constant)
        if not isinstance(u0, torch.Tensor) or u0.dim() != 3 + self.model.ndim:
            raise InputError(f"u0 must be a tensor (batch, history, channels, *grid) with {3 + self.model.ndim} axes")

        def forecast(u: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():  # entered here: it is per thread
                return self._forecast(u, steps)

        return in_call_batches(self.trajectories_per_call(u0), forecast, u0[:, -1].to(self.device, torch.float32))

    def _forecast(self, u: torch.Tensor, steps: int) -> torch.Tensor:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise InputError(f"steps must be an integer >= 0, got {steps!r}")
        states = []
        for _ in range(steps):
            u = self.model.forecast(u)
            states.append(u)
        return torch.stack(states, dim=1) if states else u.new_zeros((u.shape[0], 0, *u.shape[1:]))

    # --- files ---------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "kind": "observer",
            "model": self.model.pdeop_spec,
            "state_dict": tensor_state_dict(self.model),
            "metadata": self.metadata,
        }

    def save(self, path) -> object:
        return save_checkpoint(self.state(), path)

    @classmethod
    def from_state(cls, payload: dict, device="cpu") -> Observer:
        with payload_errors("an observer"):
            return cls(rebuilt_model(payload), payload.get("metadata")).to(device)

    @classmethod
    def load(cls, path, device="cpu") -> Observer:
        path = checkpoint_file(path)
        payload = load_checkpoint(path, map_location="cpu")
        if checkpoint_kind(payload, path) != "observer":
            raise CheckpointError(f"{path} holds no observer; load it with operators.load")
        return cls.from_state(payload, device)
