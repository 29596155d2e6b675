"""The ``observer`` task: train a semilinear observer to assimilate sparse, noisy observations and forecast.

Data mode ``trajectory``. Each training item is a window of ``warmup + horizon``
consecutive stored frames; an epoch passes over every such window of every training
trajectory once (``task.windows=all``, as the next-step task's epochs do), or over one
window per trajectory at a random start (``task.windows=random``: an epoch then holds
``frames - window + 1`` times fewer optimizer steps, which left the observer
under-trained at equal epochs; ``benchmarks/ablation.py``). Observations are drawn on
the fly for the first ``warmup`` frames (``pde_data.ObservationModel``, random
sensors per trajectory, so every epoch sees new masks and noise), none for the
``horizon`` frames after them. The observer starts from the climatological guess
(the training mean; ``initial="truth"`` starts from the true state), assimilates
through the warm-up and forecasts the horizon. The loss is the relative L2 of the
states over the whole window plus ``measurement_weight`` times the relative
error of ``E(u_f)`` against the observations at the sensors (the paper's
measurement-reconstruction term).

Choices the paper leaves open, ours: warm-up 8, horizon 8, 10 % sensors, 5 %
relative noise, observations every frame, weight 0.1. All are ``task.*`` options.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from operators.models.observer import SemilinearObserver
from solvers.errors import InputError
from training.data import TrajectoryWindows
from training.evaluation.metrics import relative_l2, relative_l2_per_step
from training.tasks.base import Task, register_task, unwrap
from training.tasks.options import ObserverOptions


@register_task
class AssimilationTask(Task):
    """Batches: ``fields`` ``(batch, frames, channels, *grid)``, whole stored trajectories."""

    kind = "observer"
    data_mode = "trajectory"
    predictor_kind: ClassVar[str] = "observer"
    metric_names: ClassVar[tuple[str, ...]] = (
        "loss",
        "relative_l2",
        "relative_l2_assimilation",
        "relative_l2_forecast",
    )

    Options = ObserverOptions

    def __init__(self, config):
        self.window = config.task.warmup + config.task.horizon
        super().__init__(config)
        statistics = self.train_set.statistics
        self.mean, self.std = statistics["mean"].float(), statistics["std"].float()

    def datasets(self):
        train, val = super().datasets()
        if train.frames < self.window:
            raise InputError(f"the trajectories hold {train.frames} frames; task.warmup + task.horizon = {self.window}")
        return (TrajectoryWindows(train, self.window) if self.options.windows == "all" else train), val

    # --- model ---------------------------------------------------------------------------
    def model_hyperparameters(self) -> dict:
        recipe = self.train_set.recipe
        return super().model_hyperparameters() | {
            "equation": recipe.equation,
            "coefficients": dict(recipe.coefficients),
            "length": float(recipe.length),
            "dt": self.frame_dt(),
        }

    def frame_dt(self) -> float | None:
        times = np.asarray(self.train_set.frame_times(self.train_set.samples[0]), dtype=float)
        return float(times[1] - times[0]) if times.size > 1 else None

    def prepare_model(self, model: torch.nn.Module) -> None:
        if not isinstance(model, SemilinearObserver):
            raise InputError("task.kind = observer trains model.name = semilinear-observer")
        model.set_normalization(self.mean, self.std)

    # --- one window ----------------------------------------------------------------------
    def observe(self, truth: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Observations of the warm-up frames of ``truth`` ``(batch, window, C, *grid)``; none after."""
        model = self.options.observation_model()
        values, masks = [], []
        for sample in truth:
            value, mask = model.observe(sample[: self.options.warmup].detach().cpu().double(), generator=generator)
            values.append(value.float())
            masks.append(mask.float())
        values, mask = torch.stack(values).to(truth.device), torch.stack(masks).to(truth.device)
        pad = (truth.shape[0], self.options.horizon, *values.shape[2:])
        padded = torch.cat([values, values.new_zeros(pad)], dim=1)
        return padded, torch.cat([mask, mask.new_zeros(pad[0], pad[1], *mask.shape[2:])], dim=1)

    def run(self, model, truth: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """``(states, readings, values, mask)`` of assimilating and forecasting one window of ``truth``."""
        values, mask = self.observe(truth, generator)
        if self.options.initial == "truth":
            initial = truth[:, 0]
        else:
            initial = self.mean.to(truth.device).reshape(1, -1, *(1,) * (truth.dim() - 3)).expand_as(truth[:, 0])
        states, readings = model(initial.contiguous(), values, mask)
        return states, readings, values, mask

    def _losses(self, states, readings, values, mask, truth) -> tuple[torch.Tensor, torch.Tensor]:
        state = relative_l2(states.float(), truth.float(), channel_axis=2)
        warm = slice(0, self.options.warmup)
        error = (mask[:, warm] * (readings[:, warm] - values[:, warm])).flatten(1).norm(dim=1)
        measured = (mask[:, warm] * values[:, warm]).flatten(1).norm(dim=1) + 1e-8
        return state, (error / measured).mean()

    def loss(self, model, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        fields = batch["fields"]  # whole trajectories (windows=random) or windows already (windows=all)
        start = int(torch.randint(0, fields.shape[1] - self.window + 1, ()))
        generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, ())))
        truth = fields[:, start : start + self.window]
        states, readings, values, mask = self.run(model, truth, generator)
        state, measurement = self._losses(states, readings, values, mask, truth)
        loss = state + self.options.measurement_weight * measurement
        return loss, {"loss": loss.detach(), "relative_l2": state.detach()}

    @torch.no_grad()
    def validate(self, model, batch: dict) -> dict[str, float]:
        truth = batch["fields"][:, : self.window]
        states, readings, values, mask = self.run(unwrap(model), truth, torch.Generator().manual_seed(0))
        state, measurement = self._losses(states, readings, values, mask, truth)
        curve = relative_l2_per_step(states.float(), truth.float())
        warm = self.options.warmup
        return {
            "loss": float(state + self.options.measurement_weight * measurement),
            "relative_l2": float(state),
            "relative_l2_assimilation": float(curve[:warm].mean()),
            "relative_l2_forecast": float(curve[warm:].mean()) if self.options.horizon else float("nan"),
        }

    # --- results -------------------------------------------------------------------------
    def metadata(self) -> dict:
        return self.data_metadata() | {
            "dt": self.frame_dt(),
            "warmup": self.options.warmup,
            "horizon": self.options.horizon,
            "observation_model": self.options.observation_model().to_dict(),
        }

    def checkpoint(self, model: torch.nn.Module) -> dict:
        return super().checkpoint(model) | {"metadata": self.metadata()}

    def report_text(self, report: dict) -> str:
        from training.evaluation.assimilation import assimilation_table

        return f"validation trajectories ({len(report['samples'])}), relative L2:\n" + assimilation_table(report)

    def evaluate(self, run_dir: Path, progress: bool = True) -> dict:
        """Assimilation against forecast-only on the validation trajectories (``evaluate_observer``)."""
        import operators
        from training.data import validation_file
        from training.evaluation.assimilation import evaluate_observer

        observer = operators.load(run_dir)
        data = self.config.data
        return evaluate_observer(
            observer,
            validation_file(data),
            Path(run_dir) / "evaluation",
            data.val_split,
            self.config.train.eval_trajectories,
        )
