"""Task ``autoencoder``: train a trajectory autoencoder (Text2PDE stage 1) on whole trajectories.

Data mode ``trajectory``: each sample is a whole stored trajectory ``(time, channels, *grid)``,
normalised per channel with the training file's statistics. The loss is a reconstruction
error plus ``kl_weight`` times the KL divergence of the posterior from ``N(0, 1)`` (summed over
the latent, averaged over the batch; 1e-7 in the public Text2PDE configs):

- ``relative-l1`` (default): per sample ``||x - x_hat||_1 / ||x||_1`` on normalised fields, averaged;
- ``l1``: the mean absolute error on normalised fields (the public ``KL_Loss``).

Metrics: ``loss``, ``relative_l2`` (physical units, per channel), ``relative_l1`` and ``kl``.
The checkpoint is an ``operators.Autoencoder`` (kind ``autoencoder``): ``operators.load(run)``
gives ``encode``, ``decode`` and ``reconstruct`` in physical units.
"""

from __future__ import annotations

from pathlib import Path

import torch

from operators.models.autoencoder import gaussian_kl
from solvers.errors import InputError
from training.evaluation.metrics import relative_l2
from training.tasks.base import Task, register_task, unwrap
from training.tasks.options import AutoencoderOptions


def reconstruction_error(prediction: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """The reconstruction term of the loss (normalised fields, any layout with batch first)."""
    if kind == "l1":
        return (prediction - target).abs().mean()
    error = (prediction - target).flatten(1).abs().sum(1)
    return (error / target.flatten(1).abs().sum(1).clamp_min(1e-12)).mean()


@register_task
class AutoencoderTask(Task):
    kind = "autoencoder"
    data_mode = "trajectory"
    metric_names = ("loss", "relative_l2", "relative_l1", "kl")
    predictor_kind = "autoencoder"

    Options = AutoencoderOptions

    def __init__(self, config):
        super().__init__(config)
        stored = len(self.train_set.frame_indices)
        self.frames = self.options.frames or stored
        if self.frames > stored:
            raise InputError(f"task.frames = {self.frames}, but the trajectories hold {stored} frames")
        statistics = self.train_set.statistics
        self.mean, self.std = statistics["mean"].float(), statistics["std"].float()

    def model_hyperparameters(self) -> dict:
        data = self.train_set
        return {"in_channels": data.channels, "ndim": len(data.grid_shape)}

    def prepare_model(self, model: torch.nn.Module) -> None:
        unwrap(model).latent_shape(self.frames, tuple(self.train_set.grid_shape))  # refuse a misfit before training

    def to(self, device: torch.device) -> AutoencoderTask:
        self.mean, self.std = self.mean.to(device), self.std.to(device)
        return self

    # --- units -------------------------------------------------------------------------
    def model_input(self, fields: torch.Tensor) -> torch.Tensor:
        """Physical ``(batch, time, C, *grid)`` -> normalised ``(batch, C, frames, *grid)``."""
        shape = (1, 1, -1, *(1,) * (fields.dim() - 3))
        x = (fields[:, : self.frames] - self.mean.reshape(shape)) / self.std.reshape(shape)
        return x.transpose(1, 2)

    def physical(self, x: torch.Tensor) -> torch.Tensor:
        fields = x.transpose(1, 2)
        shape = (1, 1, -1, *(1,) * (fields.dim() - 3))
        return fields * self.std.reshape(shape) + self.mean.reshape(shape)

    # --- objective -----------------------------------------------------------------------
    def _terms(self, model, batch: dict, sample: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.model_input(batch["fields"])
        reconstruction, mean, logvar = model(x, sample=sample)
        reconstruction = reconstruction.float()
        return x, reconstruction, gaussian_kl(mean.float(), logvar.float()).mean()

    def loss(self, model, batch):
        x, reconstruction, kl = self._terms(model, batch, sample=True)
        rec = reconstruction_error(reconstruction, x, self.options.reconstruction)
        loss = rec + self.options.kl_weight * kl
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def validate(self, model, batch):
        x, reconstruction, kl = self._terms(model, batch, sample=False)
        rec = reconstruction_error(reconstruction, x, self.options.reconstruction)
        physical = self.physical(reconstruction)
        target = batch["fields"][:, : self.frames]
        return {
            "loss": float(rec + self.options.kl_weight * kl),
            "relative_l2": float(relative_l2(physical, target, channel_axis=2)),
            "relative_l1": float(reconstruction_error(reconstruction, x, "relative-l1")),
            "kl": float(kl),
        }

    # --- results -------------------------------------------------------------------------
    def checkpoint(self, model: torch.nn.Module) -> dict:
        recipe = self.train_set.recipe
        frame_dt = recipe.t_end / (recipe.total_frames - 1)
        metadata = self.data_metadata() | {"frames": self.frames, "dt": frame_dt}
        return super().checkpoint(model) | {
            "normalization": {"mean": self.mean.detach().cpu(), "std": self.std.detach().cpu()},
            "metadata": metadata,
        }

    def report_text(self, report: dict) -> str:
        return (
            f"reconstruction of {report['trajectories']} validation trajectories: relative L2 "
            f"{report['relative_l2']:.4f}, latent {tuple(report['latent_shape'])}"
        )

    def evaluate(self, run_dir: Path, progress: bool = True) -> dict:
        """The best checkpoint's reconstruction error on every validation trajectory (physical units)."""
        import operators

        autoencoder = operators.load(run_dir)
        errors = []
        for index in range(len(self.val_set)):
            fields = self.val_set[index]["fields"][None, : self.frames]
            errors.append(float(relative_l2(autoencoder.reconstruct(fields).cpu(), fields, channel_axis=2)))
        latent = autoencoder.model.latent_shape(self.frames, tuple(self.train_set.grid_shape))
        return {
            "trajectories": len(errors),
            "relative_l2": sum(errors) / max(1, len(errors)),
            "per_trajectory": errors,
            "latent_shape": list(latent),
        }
