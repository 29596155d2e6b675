"""Task ``latent-diffusion``: train the Text2PDE denoiser in a frozen autoencoder's latent space.

Data mode ``trajectory``. Each batch: the trajectories are encoded by the frozen autoencoder
(``task.autoencoder``, a run or checkpoint of the ``autoencoder`` task; a posterior sample, as
latent diffusion does), scaled by ``scale_factor`` (default ``1 / std`` of the training latents,
latent diffusion's ``scale_by_std``; the public Text2PDE configs fix 0.2), noised at uniform random
steps of the DDPM schedule (``timesteps``, ``beta_start``, ``beta_end``), and the model
(``latent-dit``) learns the noise by mean squared error, conditioned on the caption
(``condition: text``) or on the first frame (``first-frame``). With probability
``condition_dropout`` a sample's condition is replaced by the null token, which classifier-free
guidance needs at sampling time.

Validation uses the same loss with noise and steps drawn from a generator seeded by the samples'
indices, so it is the same every epoch. The checkpoint is an ``operators.Generator`` (kind
``generator``); the evaluation samples ``eval_samples`` validation trajectories from their own
conditions and scores them against the truth (relative L2 of the whole trajectory).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

import operators
from operators.layers.diffusion import NoiseSchedule
from operators.predictors.generator import held_frame_latent
from solvers.errors import InputError
from training.evaluation.metrics import relative_l2
from training.tasks.base import Task, register_task, unwrap
from training.tasks.options import LatentDiffusionOptions


@register_task
class LatentDiffusionTask(Task):
    kind = "latent-diffusion"
    data_mode = "trajectory"
    metric_names = ("loss",)
    predictor_kind = "generator"

    Options = LatentDiffusionOptions

    def __init__(self, config):
        super().__init__(config)
        self.autoencoder = operators.load(self.options.autoencoder)
        if not isinstance(self.autoencoder, operators.Autoencoder):
            raise InputError(f"task.autoencoder = {self.options.autoencoder} is not an autoencoder checkpoint")
        self.frames = int(self.autoencoder.metadata.get("frames") or len(self.train_set.frame_indices))
        grid = tuple(self.train_set.grid_shape)
        trained_grid = tuple(self.autoencoder.metadata.get("grid") or grid)
        if grid != trained_grid or self.train_set.channels != self.autoencoder.model.channels:
            raise InputError(
                f"the autoencoder was trained on {self.autoencoder.model.channels} channel(s) on "
                f"{trained_grid}; this data has {self.train_set.channels} on {grid}"
            )
        self.latent_shape = self.autoencoder.model.latent_shape(self.frames, grid)
        self.schedule = NoiseSchedule(self.options.timesteps, self.options.beta_start, self.options.beta_end)
        self.scale_factor = self.options.scale_factor or self._latent_scale()

    def _latent_scale(self, trajectories: int = 32) -> float:
        """``1 / std`` of the latent means of the first training trajectories."""
        count = min(trajectories, len(self.train_set))
        fields = torch.stack([self.train_set[i]["fields"][: self.frames] for i in range(count)])
        return float(1.0 / self.autoencoder.encode(fields).std().clamp_min(1e-6))

    def model_hyperparameters(self) -> dict:
        derived = {
            "latent_channels": self.latent_shape[0],
            "latent_size": list(self.latent_shape[1:]),
            "condition": self.options.condition,
            "frame_channels": self.train_set.channels,
            "frame_ndim": len(self.train_set.grid_shape),
        }
        if self.options.condition == "first-frame":  # the frame map's layout (a text model has none)
            derived["frame_grid"] = list(self.train_set.grid_shape)
        return derived

    def prepare_model(self, model: torch.nn.Module) -> None:
        if unwrap(model).condition != self.options.condition:
            raise InputError(
                f"model.hyperparameters.condition = {unwrap(model).condition!r} contradicts "
                f"task.condition = {self.options.condition!r}; set only task.condition"
            )

    def to(self, device: torch.device) -> LatentDiffusionTask:
        self.autoencoder.to(device)
        return self

    # --- objective -----------------------------------------------------------------------
    def condition_of(self, batch: dict):
        """The batch's conditions: captions, or normalised first frames ``(B, C, *grid)``."""
        if self.options.condition == "text":
            return list(batch["caption"])
        return self.autoencoder.normalize(batch["fields"][:, :1])[:, :, 0]

    def _latents(self, fields: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        ae = self.autoencoder
        with torch.no_grad():
            mean, logvar = ae.model.encode(ae.normalize(fields[:, : self.frames]).to(ae.device))
            noise = (
                torch.randn(mean.shape, generator=generator).to(mean.device) if generator else torch.randn_like(mean)
            )
            return (mean + torch.exp(0.5 * logvar) * noise) * self.scale_factor

    def _noise_loss(self, model, batch: dict, generator: torch.Generator | None, dropout: float) -> torch.Tensor:
        x0 = self._latents(batch["fields"], generator)
        batch_size = x0.shape[0]

        def draw(shape, high=None):
            if high is not None:
                return torch.randint(0, high, shape, generator=generator).to(x0.device)
            return torch.randn(shape, generator=generator).to(x0.device)

        t = draw((batch_size,), self.schedule.steps)
        noise = draw(x0.shape)
        drop = torch.rand(batch_size, generator=generator).to(x0.device) < dropout
        x_t = self.schedule.add_noise(x0, noise, t)
        latent = None
        if unwrap(model).latent_condition:
            latent = held_frame_latent(self.autoencoder, batch["fields"][:, 0], self.frames, self.scale_factor)
        prediction = model(x_t, t, condition=self.condition_of(batch), drop=drop, latent=latent)
        return torch.mean((prediction.float() - noise) ** 2)

    def loss(self, model, batch):
        loss = self._noise_loss(model, batch, None, self.options.condition_dropout)
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def validate(self, model, batch):
        seed = int(batch["sample"].sum()) if isinstance(batch.get("sample"), torch.Tensor) else 0
        generator = torch.Generator().manual_seed(seed)
        return {"loss": float(self._noise_loss(model, batch, generator, 0.0))}

    # --- results -------------------------------------------------------------------------
    def checkpoint(self, model: torch.nn.Module) -> dict:
        recipe = self.train_set.recipe
        metadata = self.data_metadata() | {
            "frames": self.frames,
            "dt": recipe.t_end / (recipe.total_frames - 1),
            "recipe": recipe.to_dict(),
            "condition": self.options.condition,
        }
        generator = operators.Generator(self.autoencoder, model, self.schedule, self.scale_factor, metadata)
        return generator.state() | {"task": self.kind}

    def report_text(self, report: dict) -> str:
        return (
            f"{report['trajectories']} validation trajectories generated from their {report['condition']} "
            f"({report['steps']} DDIM steps, guidance {report['guidance']:g}): relative L2 "
            f"{report['relative_l2']:.4f}, {report['seconds_per_trajectory']:.3f} s per trajectory"
        )

    def evaluate(self, run_dir: Path, progress: bool = True) -> dict:
        generator = operators.load(run_dir)
        count = min(self.options.eval_samples, len(self.val_set))
        items = [self.val_set[i] for i in range(count)]
        truth = torch.stack([item["fields"][: self.frames] for item in items])
        if self.options.condition == "text":
            condition = {"prompt": [item["caption"] for item in items]}
        else:
            condition = {"first_frame": truth[:, 0]}
        start = time.perf_counter()
        generated = generator.sample(**condition, steps=self.options.eval_steps, guidance=self.options.guidance)
        seconds = (time.perf_counter() - start) / count
        errors = [
            float(relative_l2(generated[i : i + 1].cpu(), truth[i : i + 1], channel_axis=2)) for i in range(count)
        ]
        return {
            "trajectories": count,
            "condition": self.options.condition,
            "steps": self.options.eval_steps,
            "guidance": self.options.guidance,
            "relative_l2": sum(errors) / count,
            "per_trajectory": errors,
            "seconds_per_trajectory": seconds,
        }
