"""``Autoencoder``: a trained trajectory autoencoder (``operators.models.autoencoder``, Text2PDE stage 1)
as a predictor: ``encode``, ``decode`` and ``reconstruct`` in physical units."""

from __future__ import annotations

import torch

from operators.models.autoencoder import TrajectoryAutoencoder
from operators.predictors.checkpoint import payload_errors, rebuilt_model, save_checkpoint, tensor_state_dict
from operators.predictors.registry import register_predictor
from solvers.errors import InputError


@register_predictor("autoencoder")
class Autoencoder:
    """A trained trajectory autoencoder, in physical units: ``encode``, ``decode``, ``reconstruct``.

    Trajectories are ``(batch, time, channels, *grid)`` as everywhere in pdeop; latents are the
    posterior means ``(batch, latent_channels, time', *grid')``. ``mean`` and ``std`` ``(channels,)``
    normalise the fields as in training; ``metadata`` holds the training data's description
    (``frames``, ``grid``, ``field_names``, ``dt`` ...).
    """

    def __init__(
        self, model: TrajectoryAutoencoder, mean: torch.Tensor, std: torch.Tensor, metadata: dict | None = None
    ):
        if not hasattr(model, "pdeop_spec"):
            raise InputError("model must be built with operators.build so that it can be saved and rebuilt")
        self.model = model.eval()
        self.mean, self.std = mean.detach().float().cpu(), std.detach().float().cpu()
        self.metadata = dict(metadata or {})

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device) -> Autoencoder:
        self.model.to(device)
        return self

    def _scale(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, 1, -1, *(1,) * self.model.ndim)
        return self.mean.to(like.device).reshape(shape), self.std.to(like.device).reshape(shape)

    def normalize(self, fields: torch.Tensor) -> torch.Tensor:
        """Physical ``(batch, time, C, *grid)`` -> the model's layout ``(batch, C, time, *grid)``, normalised."""
        if not isinstance(fields, torch.Tensor) or fields.dim() != 3 + self.model.ndim:
            raise InputError(f"fields must be a tensor (batch, time, channels, *grid) with {3 + self.model.ndim} axes")
        if fields.shape[2] != self.model.channels:
            raise InputError(f"expected {self.model.channels} channel(s) on axis 2, got {fields.shape[2]}")
        mean, std = self._scale(fields)
        return ((fields.float() - mean) / std).transpose(1, 2)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """The model's layout ``(batch, C, time, *grid)`` -> physical ``(batch, time, C, *grid)``."""
        fields = x.transpose(1, 2)
        mean, std = self._scale(fields)
        return fields * std + mean

    def encode(self, fields: torch.Tensor) -> torch.Tensor:
        """Latent means ``(batch, latent_channels, time', *grid')`` of physical trajectories."""
        with torch.inference_mode():
            return self.model.encode(self.normalize(fields).to(self.device))[0]

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Physical trajectories ``(batch, time, channels, *grid)`` of latents."""
        with torch.inference_mode():
            return self.denormalize(self.model.decode(latents.to(self.device, torch.float32)))

    def reconstruct(self, fields: torch.Tensor) -> torch.Tensor:
        """``decode(encode(fields))``."""
        return self.decode(self.encode(fields))

    # --- files ---------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "kind": "autoencoder",
            "model": self.model.pdeop_spec,
            "state_dict": tensor_state_dict(self.model),
            "normalization": {"mean": self.mean, "std": self.std},
            "metadata": self.metadata,
        }

    def save(self, path) -> object:
        return save_checkpoint(self.state(), path)

    @classmethod
    def from_state(cls, payload: dict, device="cpu") -> Autoencoder:
        with payload_errors("an autoencoder"):
            norm = payload["normalization"]
            return cls(rebuilt_model(payload), norm["mean"], norm["std"], payload.get("metadata")).to(device)
