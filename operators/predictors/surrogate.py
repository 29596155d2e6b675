"""``Surrogate``: a trained model plus everything needed to use it for prediction.

A surrogate advances a field autoregressively: given the last ``history``
states ``(batch, history, channels, *grid)`` it predicts the next ``horizon``
states, and ``predict`` repeats this to any number of steps, each ``dt`` apart.
Normalisation (per-channel mean and std) is applied inside, so inputs and
outputs are in physical units.

Constant inputs: a surrogate trained on data with fields that do not change in time
(The Well's ``time_varying = False`` fields, e.g. a mask or a coefficient field) takes
them as ``constant`` ``(batch or 1, C_const, *grid)`` beside ``u0``; every model call
sees them (normalised) after the flattened states.

Other grids: a resolution-agnostic model (FNO, the ``-no`` conversions) runs on
any grid of its dimension. A grid-tied one refuses, unless ``other_grids`` says
how: ``"direct"`` runs it on the given grid anyway (what cross-resolution
studies measure), ``"interpolate"`` is the input-output interpolation baseline
(each call resamples the input to the training grid, runs there, and resamples
the output back; for residual models the change is resampled and added to the
state on the given grid). ``"interpolate"`` applies to agnostic models too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from operators.predictors.call_batches import check_call_batch, in_call_batches, trajectories_per_call
from operators.predictors.checkpoint import (
    CheckpointError,
    load_checkpoint,
    payload_errors,
    rebuilt_model,
    save_checkpoint,
    tensor_state_dict,
)
from operators.predictors.registry import checkpoint_file, checkpoint_kind, refuse_non_finite, register_predictor
from solvers.device import resolve_device
from solvers.errors import InputError
from solvers.resample import fourier_resample

AUTOCAST = {None: None, "fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: architectures whose weights fast inference keeps channels-last: measured faster so on the CPU at batch 64,
#: one thread (``benchmarks/inference_levers.py``: U-Net 1.23x, MgNO 1.07x); not SineNet (its bench row took
#: 0.36 s per trajectory channels-last against 0.31 s plain) nor FNO (0.99x, pointwise convolutions only)
CHANNELS_LAST = ("unet", "unet-no", "mgno")
#: how a surrogate handles grids other than its training grid (None: only if the model is agnostic)
OTHER_GRIDS = (None, "direct", "interpolate")


@register_predictor("surrogate")
class Surrogate:
    """A model with its normalisation and PDE metadata (the ``surrogate`` predictor kind).

    Args:
        model: maps ``(batch, history * channels, *grid)`` to ``(batch, horizon * channels, *grid)``
            in normalised units; built by ``operators.build`` (it carries ``pdeop_spec``).
        mean: per-channel normalisation mean ``(channels,)``.
        std: per-channel normalisation standard deviation ``(channels,)``.
        history: input states the model needs.
        horizon: states it predicts per call.
        residual: the model outputs the change from the last input state (added back here).
        metadata: plain data describing the PDE: ``equation``, ``coefficients``,
            ``length``, ``grid`` (points per axis), ``dt`` (time between states),
            ``field_names``, ``dataset`` ... (free-form, saved with the model).
        constants: for models trained with constant inputs, ``{"names": [...], "mean": (C_const,),
            "std": (C_const,)}`` (the model then takes ``history * channels + C_const`` input channels).
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
        constants: dict | None = None,
    ):
        if not hasattr(model, "pdeop_spec"):
            raise InputError("model must be built with operators.build so that it can be saved and rebuilt")
        self.model = model.eval()
        self.mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        self.std = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        self.history, self.horizon = int(history), int(horizon)
        self.metadata = dict(metadata or {})
        self.residual = bool(residual)
        self.other_grids: str | None = None
        self.fast = True
        self.call_batch: int | str | None = "auto"  # trajectories per model call (see fast_inference)
        self._memory_format = torch.contiguous_format  # the layout the weights are in (fast_inference sets it)
        self.constants = None
        if constants and list(constants.get("names", [])):
            self.constants = {
                "names": [str(n) for n in constants["names"]],
                "mean": torch.as_tensor(constants["mean"], dtype=torch.float32).reshape(-1),
                "std": torch.as_tensor(constants["std"], dtype=torch.float32).reshape(-1),
            }

    def on_other_grids(self, mode: str | None) -> Surrogate:
        """Set how to handle grids other than the training grid (``None``, ``"direct"``, ``"interpolate"``;
        see the module docstring); returns ``self``."""
        if mode not in OTHER_GRIDS:
            raise InputError(f"other_grids must be one of direct, interpolate or None, got {mode!r}")
        self.other_grids = mode
        return self

    def fast_inference(self, enabled: bool = True, call_batch: int | str | None = "auto") -> Surrogate:
        """Use (default) or not the fastest settings that leave the results unchanged up to float rounding:
        the architectures in ``CHANNELS_LAST`` keep their weights in channels-last memory format, and on the
        CPU a large batch is rolled out ``call_batches.CPU_CALL_POINTS`` grid points (8 states of 64^2) at a time, both
        measured faster on the CPU (see ``docs/models.md``); ``predict`` always runs under ``torch.inference_mode``.
        ``False`` restores the plain layout and the whole batch per call (for comparisons, or a backend where
        they are slower). ``call_batch``: the most trajectories per model call, ``None`` for the whole batch,
        ``"auto"`` (default) for the rule above; returns ``self``."""
        check_call_batch(call_batch)
        self.fast = bool(enabled)
        self.call_batch = call_batch
        self._set_memory_format()
        return self

    def trajectories_per_call(self, states: torch.Tensor) -> int:
        """How many trajectories of ``states`` ``(batch, history, channels, *grid)`` one model call takes
        (``fast_inference``'s ``call_batch``; ``operators.predictors.call_batches``)."""
        return trajectories_per_call(states, self.call_batch, self.fast, self.device)

    def _set_memory_format(self) -> None:
        name = getattr(self.model, "pdeop_spec", {}).get("name")
        wanted = torch.channels_last if self.fast and name in CHANNELS_LAST else torch.contiguous_format
        if self._memory_format != wanted:
            self.model.to(memory_format=wanted)
            self._memory_format = wanted

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
    def _lacks_batch_axis(self, u0: torch.Tensor, grid) -> bool:
        """Whether ``u0`` looks like one sample ``(history, channels, *grid)``: one axis short, with the model's
        channels and a grid of its rank (the training grid, or one of at least 4 points per axis); 1D data
        ``(batch, history, channels, n)`` given to a 2D model is one axis short too, but not that."""
        sample_grid = tuple(u0.shape[2:])
        return (
            u0.dim() == 2 + len(grid)
            and u0.shape[1] == self.channels
            and (sample_grid == tuple(grid) or min(sample_grid) >= 4)
        )

    def _check_input(self, u0: torch.Tensor) -> None:
        layout = "(batch, history, channels, *grid)"
        if not isinstance(u0, torch.Tensor):
            raise InputError(f"u0 must be a torch tensor {layout}, got {type(u0).__name__}")
        if u0.is_complex() or not u0.is_floating_point():
            raise InputError(f"u0 must hold real floating-point values, got dtype {u0.dtype}")
        grid = self.metadata.get("grid")
        expected = 3 + (len(grid) if grid is not None else u0.dim() - 3)
        if u0.dim() != expected or u0.dim() < 4:
            if grid is not None and u0.dim() >= 4 and not self._lacks_batch_axis(u0, grid):
                raise InputError(
                    f"this surrogate was trained on {len(grid)}D data (grid {tuple(grid)}), but u0 {tuple(u0.shape)} "
                    f"holds {u0.dim() - 3}D states (grid {tuple(u0.shape[3:])}): give it data of its own problem"
                )
            hint = " (add a batch axis with u0[None])" if u0.dim() == expected - 1 else ""
            raise InputError(f"u0 must have shape {layout} with {expected} axes, got {tuple(u0.shape)}{hint}")
        if u0.shape[0] == 0:
            raise InputError(f"u0 holds no samples (batch size 0): shape {tuple(u0.shape)}")
        if u0.shape[1] < self.history:
            raise InputError(
                f"this surrogate needs the last {self.history} states as input, got {u0.shape[1]} "
                f"(u0 has shape {layout} = {tuple(u0.shape)})"
            )
        if u0.shape[2] != self.channels:
            raise InputError(f"expected {self.channels} channel(s) on axis 2, got {u0.shape[2]}")
        refuse_non_finite("u0", u0[:, -self.history :])
        grid = self.metadata.get("grid")
        if grid is not None and tuple(u0.shape[3:]) != tuple(grid):
            if len(u0.shape[3:]) != len(grid):
                raise InputError(f"expected a {len(grid)}D grid like {tuple(grid)}, got {tuple(u0.shape[3:])}")
            if not self.resolution_agnostic and self.other_grids is None:
                raise InputError(
                    f"expected a grid of {tuple(grid)}, got {tuple(u0.shape[3:])}: this "
                    f"{self.model.pdeop_spec['name']} model is tied to its training grid; resample the input "
                    f"with solvers.fourier_resample(u0, {tuple(grid)}), or opt in with "
                    "surrogate.on_other_grids('interpolate' or 'direct') (--other-grids on the command line)"
                )

    def _normalized_constant(self, constant: torch.Tensor | None, u0: torch.Tensor) -> torch.Tensor | None:
        """The constant inputs checked against ``u0`` and normalised ``(batch, C_const, *grid)``; None without."""
        if self.constants is None:
            if constant is not None and constant.numel():
                raise InputError("this surrogate was trained without constant inputs; call predict without constant")
            return None
        names = self.constants["names"]
        expected = f"(batch or 1, {len(names)}, {', '.join(map(str, u0.shape[3:]))})"
        if constant is None:
            raise InputError(f"this surrogate was trained with the constant fields {names}: pass constant={expected}")
        if (
            not isinstance(constant, torch.Tensor)
            or tuple(constant.shape[1:]) != (len(names), *u0.shape[3:])
            or constant.shape[0] not in (1, u0.shape[0])
        ):
            shape = tuple(constant.shape) if isinstance(constant, torch.Tensor) else type(constant).__name__
            raise InputError(f"constant must have shape {expected} (fields {names}), got {shape}")
        if not bool(torch.isfinite(constant).all()):
            raise InputError("constant contains non-finite values (NaN or infinity)")
        device, shape = self.device, (1, -1, *(1,) * (u0.dim() - 3))
        mean = self.constants["mean"].to(device).reshape(shape)
        std = self.constants["std"].to(device).reshape(shape)
        values = (constant.to(device=device, dtype=torch.float32) - mean) / std
        return values.expand(u0.shape[0], *values.shape[1:])

    def predict(
        self, u0: torch.Tensor, steps: int, precision: str | None = None, constant: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The next ``steps`` states after ``u0``.

        Args:
            u0: the latest states ``(batch, history', channels, *grid)``, ``history' >= history``
                (the last ``history`` are used), in physical units, real and finite.
            steps: number of future states (each ``dt`` apart).
            precision: ``None``/``"fp32"``, ``"bf16"`` or ``"fp16"`` autocast.
            constant: the fields that do not change in time ``(batch or 1, C_const, *grid)``, physical
                units, for surrogates trained with them (``surrogate.constants["names"]``); else None.

        Returns:
            ``(batch, steps, channels, *grid)`` float32 on the model's device.
        """
        return torch.cat(list(self.predict_chunks(u0, steps, steps, precision, constant)), dim=1)

    def predict_chunks(
        self,
        u0: torch.Tensor,
        steps: int,
        chunk_steps: int,
        precision: str | None = None,
        constant: torch.Tensor | None = None,
    ) -> Iterator[torch.Tensor]:
        """``predict`` in pieces: yields ``(batch, k, channels, *grid)`` until ``steps`` states are out,
        holding only one piece (for rollouts too long to keep in memory). ``k`` is ``chunk_steps``
        rounded down to whole model calls (at least ``horizon``), less for the last piece."""
        self._check_input(u0)
        for name, value in (("steps", steps), ("chunk_steps", chunk_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if precision not in AUTOCAST:
            raise InputError(f"precision must be one of fp32, bf16, fp16, got {precision!r}")
        device = self.device
        self._set_memory_format()
        constant = self._normalized_constant(constant, u0)
        mean = self.mean.to(device).reshape(1, 1, -1, *(1,) * (u0.dim() - 3))
        std = self.std.to(device).reshape(mean.shape)
        window = (u0[:, -self.history :].to(device=device, dtype=torch.float32) - mean) / std
        # whole model calls per piece, so the window after a piece holds exactly the states yielded
        chunk_steps = max(self.horizon, chunk_steps // self.horizon * self.horizon)
        produced = 0
        while produced < steps:
            count = min(chunk_steps, steps - produced)

            def rollout(window, constant, count=count):  # modes entered here: they are per thread
                with torch.inference_mode(), _autocast(device, AUTOCAST[precision]):  # not held across the yield
                    return self._advance(window, count, constant)

            piece, window = in_call_batches(self.trajectories_per_call(window), rollout, window, constant)
            produced += count
            yield piece * std + mean

    def _advance(self, window: torch.Tensor, count: int, constant: torch.Tensor | None = None):
        """``count`` normalised states after ``window`` and the window that follows them."""
        outputs, produced = [], 0
        while produced < count:
            nxt = self.step_normalized(window, constant)
            outputs.append(nxt[:, : count - produced])
            window = torch.cat([window, nxt], dim=1)[:, -self.history :]
            produced += nxt.shape[1]
        return torch.cat(outputs, dim=1).float(), window

    def step_normalized(self, window: torch.Tensor, constant: torch.Tensor | None = None) -> torch.Tensor:
        """One model call: ``(batch, history, channels, *grid)`` -> ``(batch, horizon, channels, *grid)``, normalised
        (``constant``: normalised constant inputs ``(batch, C_const, *grid)``, for surrogates trained with them)."""
        grid, trained = tuple(window.shape[3:]), tuple(self.metadata.get("grid") or window.shape[3:])
        if self.other_grids != "interpolate" or grid == trained:
            return model_step(self.model, window, self.history, self.horizon, self.residual, constant)
        coarse = fourier_resample(window, trained, len(trained))
        if constant is not None:
            constant = fourier_resample(constant, trained, len(trained))
        output = model_step(self.model, coarse, self.history, self.horizon, False, constant)
        output = fourier_resample(output, grid, len(grid))
        return output + window[:, -1:].float() if self.residual else output

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
            "constants": self.constants,
        }

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint that ``Surrogate.load`` reads (atomically)."""
        return save_checkpoint(self.state(), path)

    @classmethod
    def from_state(cls, payload: dict, device: str | torch.device = "cpu") -> Surrogate:
        with payload_errors("a surrogate"):
            model = rebuilt_model(payload)
            normalization = payload["normalization"]
            surrogate = cls(
                model,
                normalization["mean"],
                normalization["std"],
                payload["history"],
                payload["horizon"],
                payload["metadata"],
                residual=payload.get("residual", False),
                constants=payload.get("constants"),
            )
        return surrogate.to(device)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Surrogate:
        """Load from a checkpoint file (``best.pt`` or ``last.pt``), or a run directory (its best checkpoint)."""
        path = checkpoint_file(path)
        payload = load_checkpoint(path, map_location="cpu")
        kind = checkpoint_kind(payload, path)
        if kind != "surrogate":
            raise CheckpointError(f"{path} holds a {kind!r} predictor, not a surrogate: load it with operators.load")
        return cls.from_state(payload, resolve_device(device))

    def __repr__(self) -> str:
        spec = self.model.pdeop_spec
        return (
            f"Surrogate({spec['name']}, history={self.history}, horizon={self.horizon}, "
            f"channels={self.channels}, equation={self.metadata.get('equation')!r}, dt={self.metadata.get('dt')})"
        )


def model_step(
    model: torch.nn.Module,
    window: torch.Tensor,
    history: int,
    horizon: int,
    residual: bool,
    constant: torch.Tensor | None = None,
) -> torch.Tensor:
    """One call of an autoregressive model on normalised states.

    ``window`` ``(batch, history, channels, *grid)`` is flattened to channels (followed by the
    normalised ``constant`` inputs ``(batch, C_const, *grid)``, when the model takes them); the output
    ``(batch, horizon * channels, *grid)`` is unflattened to ``(batch, horizon, channels, *grid)``
    and, for residual models, added to the last input state. Shared by training and prediction.
    """
    batch, _, channels, *grid = window.shape
    inputs = window[:, -history:].reshape(batch, history * channels, *grid)
    if constant is not None:
        inputs = torch.cat([inputs, constant.to(inputs.dtype)], dim=1)
    out = model(inputs)
    out = out.reshape(batch, horizon, channels, *grid).float()
    return out + window[:, -1:].float() if residual else out


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return torch.autocast(device.type, enabled=False)
    if dtype == torch.float16 and device.type != "cuda":
        raise InputError("fp16 autocast needs a CUDA device; use bf16 on the CPU")
    return torch.autocast(device.type, dtype=dtype)
