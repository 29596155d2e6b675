"""The trained Text2PDE generator (predictor kind ``generator``): whole trajectories from a prompt or a
first frame, sampled in the latent space of a frozen trajectory autoencoder and decoded.

    >>> generator = operators.load("runs/text2pde")                                   # doctest: +SKIP
    >>> trajectories = generator.sample(prompt="Periodic 2D turbulence at viscosity 0.002 ...",
    ...                                 samples=4, steps=50, guidance=2.0, seed=0)    # doctest: +SKIP

A checkpoint holds the autoencoder's own checkpoint, the denoiser (with its condition encoder,
except a frozen pretrained text encoder, which is named and reloaded from its package), the noise
schedule, the latent scale factor and the training data's description.
"""

from __future__ import annotations

import math
import operator

import torch

from operators.layers.diffusion import NoiseSchedule, guided
from operators.models.dit import LatentDenoiser
from operators.predictors.autoencoder import Autoencoder
from operators.predictors.checkpoint import payload_errors, rebuilt_model, save_checkpoint, tensor_state_dict
from operators.predictors.forecaster import refuse_surrogate_options
from operators.predictors.registry import refuse_non_finite, register_predictor
from solvers.errors import InputError


def held_frame_latent(
    autoencoder: Autoencoder, first_frame: torch.Tensor, frames: int, scale_factor: float
) -> torch.Tensor:
    """The latent ``(batch, latent_channels, time', *grid')`` of the physical first frame ``(batch, C, *grid)``
    held still for ``frames`` frames, scaled as the diffusion latents: a first-frame denoiser's input
    beside the noisy latent (``latent_condition``)."""
    held = first_frame[:, None].expand(-1, frames, *first_frame.shape[1:])
    with torch.no_grad():
        mean, _ = autoencoder.model.encode(autoencoder.normalize(held).to(autoencoder.device))
    return mean * scale_factor


@register_predictor("generator")
class Generator:
    """``sample`` trajectories ``(batch, time, channels, *grid)`` in physical units (see the module docstring).

    Args:
        autoencoder: the frozen stage-1 model. denoiser: the trained ``latent-dit``.
        schedule: the training noise schedule. scale_factor: latents are multiplied by it before diffusion.
        metadata: the training data's description (``frames``, ``grid``, ``dt``, ``recipe`` ...).
    """

    def __init__(
        self,
        autoencoder: Autoencoder,
        denoiser: LatentDenoiser,
        schedule: NoiseSchedule,
        scale_factor: float,
        metadata: dict | None = None,
    ):
        if not hasattr(denoiser, "pdeop_spec"):
            raise InputError("the denoiser must be built with operators.build so that it can be saved and rebuilt")
        self.autoencoder, self.denoiser = autoencoder, denoiser.eval()
        self.schedule, self.scale_factor = schedule, float(scale_factor)
        self.metadata = dict(metadata or {})

    #: as a forecaster (``operators.predictors.forecaster``): it reads the last state, forecasts the mean of
    #: ``members`` trajectories generated with ``forecast_steps`` DDIM steps (seed 0)
    history = 1
    members = 4
    forecast_steps = 50

    @property
    def condition(self) -> str:
        return self.denoiser.condition

    @property
    def model(self) -> torch.nn.Module:
        """The denoiser and the autoencoder together (what the parameter count counts)."""
        networks = torch.nn.ModuleList([self.denoiser, self.autoencoder.model])
        networks.pdeop_spec = self.denoiser.pdeop_spec  # named after the denoiser (latent-dit)
        return networks

    @property
    def max_steps(self) -> int:
        """The most steps it forecasts: its trajectories' frames after the first."""
        return int(self.metadata["frames"]) - 1

    def predict(
        self, u0: torch.Tensor, steps: int, precision: str | None = None, constant: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The mean of ``members`` trajectories generated from ``u0``'s last frame: their first ``steps`` frames
        after it, ``(batch, steps, C, *grid)``.

        Why a mean: one sample of an uncertain future is a draw, whose squared error is about twice that of
        the conditional mean (a sample and the truth both scatter around it), so a single sample forecasts
        worse than persistence where the mean does not (``benchmarks/ablation.py``).
        """
        if self.condition != "first-frame":
            raise InputError("a text-conditioned generator does not forecast from a state; use a first-frame one")
        refuse_surrogate_options("a generator", precision, constant)
        if isinstance(self.members, bool) or not isinstance(self.members, int) or self.members < 1:
            raise InputError(f"members must be a positive integer, got {self.members!r}")
        if steps > self.max_steps:
            raise InputError(
                f"this generator makes {self.max_steps + 1} frames: it forecasts {self.max_steps} "
                f"steps at most, not {steps}"
            )
        samples = self.sample(first_frame=u0[:, -1], samples=self.members, steps=self.forecast_steps, seed=0)
        mean = samples.reshape(len(u0), self.members, *samples.shape[1:]).mean(dim=1)
        return mean[:, 1 : 1 + steps]

    @property
    def device(self) -> torch.device:
        return self.denoiser.null.device

    def to(self, device) -> Generator:
        self.denoiser.to(device)
        self.autoencoder.to(device)
        return self

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.denoiser.dit.channels, *self.denoiser.dit.latent_size)

    def _conditions(self, prompt, first_frame) -> tuple[object, int]:
        """The condition batch the encoder takes, and its size."""
        if self.condition == "text":
            if prompt is None or first_frame is not None:
                raise InputError("this generator is conditioned on text: pass prompt=... (a string or a list)")
            if not isinstance(prompt, (str, list, tuple)):
                raise InputError(f"prompt must be a string or a list of strings, got {type(prompt).__name__}")
            prompts = [prompt] if isinstance(prompt, str) else list(prompt)
            if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
                raise InputError("prompt must be a non-empty string or a list of them")
            return prompts, len(prompts)
        if first_frame is None or prompt is not None:
            raise InputError("this generator is conditioned on a first frame: pass first_frame=(batch, C, *grid)")
        ndim = self.autoencoder.model.ndim
        try:
            frame = torch.as_tensor(first_frame, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError) as error:
            raise InputError(
                f"first_frame must be a tensor of real numbers, got {type(first_frame).__name__}"
            ) from error
        if frame.dim() != 2 + ndim or frame.shape[1] != self.autoencoder.model.channels:
            raise InputError(
                f"first_frame must be (batch, {self.autoencoder.model.channels}, *grid) with {ndim} "
                f"grid axes, got {tuple(frame.shape)}"
            )
        grid = tuple(self.metadata.get("grid") or frame.shape[2:])
        if tuple(frame.shape[2:]) != grid:
            raise InputError(f"first_frame is on {tuple(frame.shape[2:])}; this generator was trained on {grid}")
        refuse_non_finite("first_frame", frame)
        normalised = self.autoencoder.normalize(frame[:, None])[:, :, 0]  # (batch, C, *grid)
        return normalised, frame.shape[0]

    def sample(
        self,
        prompt: str | list[str] | None = None,
        first_frame: torch.Tensor | None = None,
        samples: int = 1,
        steps: int = 50,
        guidance: float = 1.0,
        eta: float = 0.0,
        seed: int = 0,
    ) -> torch.Tensor:
        """Generate trajectories.

        Args:
            prompt: one prompt or a list (text generators). first_frame: physical ``(batch, C, *grid)``
                (first-frame generators).
            samples: trajectories per condition (the output holds each condition's ``samples`` in turn).
            steps: DDIM steps (at most the schedule's; ``steps = 1000`` with ``eta = 1`` is DDPM).
            guidance: classifier-free guidance weight ``w`` (1: conditional only).
            eta: DDIM noise (0 deterministic, 1 ancestral). seed: the noise's seed (same on every device).

        Returns:
            ``(len(conditions) * samples, frames, channels, *grid)`` float32 on the generator's device.
        """
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise InputError(f"samples must be a positive integer, got {samples!r}")
        if not (isinstance(guidance, (int, float)) and math.isfinite(guidance) and guidance >= 0):
            raise InputError(f"guidance must be a finite number >= 0, got {guidance!r}")
        try:
            index = operator.index(seed)  # ints, NumPy's included; not floats or text
        except TypeError:
            index = -1
        if not 0 <= index < 2**64:  # torch's generators take unsigned 64-bit seeds
            raise InputError(f"seed must be an integer in [0, 2^64), got {seed!r}")
        conditions, count = self._conditions(prompt, first_frame)
        batch = count * samples
        generator = torch.Generator().manual_seed(index)
        with torch.inference_mode():
            tokens, mask = self.denoiser.encode_condition(conditions)
            tokens, mask = tokens.repeat_interleave(samples, 0), mask.repeat_interleave(samples, 0)
            null_tokens, null_mask = self.denoiser.null_condition(batch)
            latent = None
            if self.denoiser.latent_condition:
                frames = int(self.metadata.get("frames") or self.autoencoder.metadata["frames"])
                frame = torch.as_tensor(first_frame, dtype=torch.float32)
                latent = held_frame_latent(self.autoencoder, frame, frames, self.scale_factor)
                latent = latent.repeat_interleave(samples, 0).to(self.device)

            def predict(x: torch.Tensor, t: torch.Tensor, conditional: bool) -> torch.Tensor:
                if conditional:
                    return self.denoiser(x, t, tokens=tokens, mask=mask, latent=latent)
                return self.denoiser(x, t, tokens=null_tokens, mask=null_mask)

            shape = (batch, self.denoiser.dit.channels, *self.denoiser.dit.latent_size)
            latents = self.schedule.sample(guided(predict, float(guidance)), shape, steps, eta, generator, self.device)
            return self.autoencoder.decode(latents / self.scale_factor)

    # --- files ---------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "kind": "generator",
            "autoencoder": self.autoencoder.state(),
            "model": self.denoiser.pdeop_spec,
            "state_dict": tensor_state_dict(self.denoiser),
            "schedule": self.schedule.to_dict(),
            "scale_factor": self.scale_factor,
            "metadata": self.metadata,
        }

    def save(self, path) -> object:
        return save_checkpoint(self.state(), path)

    @classmethod
    def from_state(cls, payload: dict, device="cpu") -> Generator:
        with payload_errors("a generator"):
            autoencoder = Autoencoder.from_state(payload["autoencoder"])
            schedule = NoiseSchedule(**payload["schedule"])
            return cls(
                autoencoder, rebuilt_model(payload), schedule, payload["scale_factor"], payload.get("metadata")
            ).to(device)
