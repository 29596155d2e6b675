"""The ``physics`` task: train any next-step model by the PDE residual alone, from initial conditions.

Data mode ``initial-condition``: initial states are drawn on the fly from a
recipe's generator (``data.recipe``); no simulated trajectory is needed. The
model rolls forward on its own predictions for ``K`` steps of one stored-frame
interval each, and the loss is the mean squared residual of the PDE between
consecutive states (``SpectralSolver.residual``, ``task.scheme``: ``exponential``,
the exact linear propagator with the nonlinear term at the midpoint, by default;
or ``crank-nicolson``; both second order), made dimensionless by ``dt^2 / std^2``.
``K`` follows a curriculum: 1 at the start, growing by one every
``task.curriculum_epochs`` epochs up to ``task.unroll``. A replay buffer
(``task.replay`` states) optionally starts half of each batch from states the
model reached before (the learning-to-solve-without-data recipe).

``task.loss``: ``residual`` (physics only), ``data`` (supervised: the solver's
states over the same steps, computed on the fly) or ``mixed`` (residual +
``task.data_weight`` x data), so that physics and data training compare at equal
budget. Validation reports the residual and the relative L2 against the solver
over ``task.unroll`` steps. Checkpoints hold a ``Surrogate`` (``operators.load``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

import torch

from operators.predictors.surrogate import model_step
from solvers.errors import InputError
from training.evaluation.metrics import relative_l2, relative_l2_per_step
from training.tasks.base import Task, register_task
from training.tasks.options import PhysicsOptions


@register_task
class PhysicsTask(Task):
    """Batches: ``u0`` ``(batch, 1, *grid)``, ``length`` and ``time_factor`` ``(batch,)``."""

    kind = "physics"
    data_mode = "initial-condition"
    predictor_kind: ClassVar[str] = "surrogate"
    metric_names: ClassVar[tuple[str, ...]] = ("loss", "residual", "relative_l2")

    Options = PhysicsOptions

    def __init__(self, config):
        super().__init__(config)
        recipe = self.train_set.recipe
        if recipe.varying:
            raise InputError(
                f"the physics task needs one equation for every sample; {recipe.name} varies "
                f"{', '.join(sorted(recipe.varying))} per sample (a text-conditioning dataset): use a recipe without "
                "'varying'"
            )
        grid = self.train_set.grid_shape[0]  # residuals and references live on the model's grid
        self.recipe = dataclasses.replace(recipe, solver_resolution=grid, resolution=grid)
        statistics = self.train_set.statistics
        self.mean, self.std = statistics["mean"].float(), statistics["std"].float()
        self.frame_dt = recipe.t_end / (recipe.total_frames - 1)
        self.epoch, self.buffer = 0, []
        self.device = torch.device("cpu")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def unroll(self) -> int:
        """Model calls this epoch (the curriculum)."""
        return min(self.options.unroll, 1 + self.epoch // self.options.curriculum_epochs)

    def to(self, device: torch.device) -> PhysicsTask:
        self.device, self.mean, self.std = device, self.mean.to(device), self.std.to(device)
        return self

    def model_hyperparameters(self) -> dict:
        return super().model_hyperparameters() | {"out_channels": self.options.horizon * self.train_set.channels}

    # --- the physics -------------------------------------------------------------------------
    def solver(self, lengths: torch.Tensor, factors: torch.Tensor):
        """The recipe's solver on the stored grid for a batch's lengths and time factors (float64)."""
        return self.recipe.build_solver(lengths.double().cpu(), factors.double().cpu(), torch.float64, str(self.device))

    def _normalise(self, u: torch.Tensor) -> torch.Tensor:
        shape = (1, 1, -1, *(1,) * (u.dim() - 3))
        return (u - self.mean.reshape(shape)) / self.std.reshape(shape)

    def rollout(self, model, u0: torch.Tensor, calls: int) -> torch.Tensor:
        """Physical states ``(batch, calls * horizon + 1, 1, *grid)`` from ``u0`` ``(batch, 1, *grid)``."""
        shape = (1, 1, -1, *(1,) * (u0.dim() - 2))
        mean, std = self.mean.reshape(shape), self.std.reshape(shape)
        window, states = self._normalise(u0[:, None]), [u0[:, None]]
        for _ in range(calls):
            nxt = model_step(model, window, 1, self.options.horizon, False)
            states.append(nxt * std + mean)
            window = nxt[:, -1:]
        return torch.cat(states, dim=1)

    def residual(self, states: torch.Tensor, solver, dt: torch.Tensor) -> torch.Tensor:
        """Mean squared dimensionless residual between consecutive states ``(batch, time, 1, *grid)``."""
        now, nxt = states[:, :-1, 0].flatten(0, 1), states[:, 1:, 0].flatten(0, 1)
        steps = states.shape[1] - 1
        r = solver_residual(solver, now, nxt, dt.repeat_interleave(steps), states.shape[0], self.options.scheme)
        scale = (dt.repeat_interleave(steps).reshape(-1, *(1,) * (r.dim() - 1)) / self.std[0]) ** 2
        return (r**2 * scale.to(r)).mean()

    def reference(self, u0: torch.Tensor, solver, steps: int) -> torch.Tensor:
        """The solver's states ``(batch, steps + 1, 1, *grid)`` one frame interval apart (no gradient)."""
        with torch.no_grad():
            u, states = u0[:, 0].double(), [u0[:, 0].double()]
            for _ in range(steps):
                u = solver.step(u, self.recipe.substeps())
                states.append(u)
        return torch.stack(states, dim=1)[:, :, None].to(u0.dtype)

    def _starts(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        u0, lengths, factors = batch["u0"], batch["length"].double(), batch["time_factor"].double()
        if self.options.replay and len(self.buffer) >= u0.shape[0] // 2 > 0:
            half = u0.shape[0] // 2
            picks = torch.randint(len(self.buffer), (half,)).tolist()
            replayed = [self.buffer[i] for i in picks]
            u0 = torch.cat([u0[:half], torch.stack([r[0] for r in replayed]).to(u0)])
            lengths = torch.cat([lengths[:half], torch.tensor([r[1] for r in replayed], dtype=lengths.dtype)])
            factors = torch.cat([factors[:half], torch.tensor([r[2] for r in replayed], dtype=factors.dtype)])
        return u0, lengths, factors

    def loss(self, model, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        u0, lengths, factors = self._starts(batch)
        solver = self.solver(lengths, factors)
        dt = (self.frame_dt * factors).to(u0.device)
        calls = self.unroll()
        states = self.rollout(model, u0, calls)
        residual = self.residual(states, solver, dt)
        loss = residual
        if self.options.loss != "residual":
            target = self.reference(u0, solver, states.shape[1] - 1)
            data = relative_l2(states[:, 1:].float(), target[:, 1:].float(), channel_axis=2)
            loss = data if self.options.loss == "data" else residual + self.options.data_weight * data
        if self.options.replay:
            reached = states[:, -1].detach().cpu()
            self.buffer.extend(zip(reached, lengths.tolist(), factors.tolist(), strict=True))
            del self.buffer[: max(0, len(self.buffer) - self.options.replay)]
        return loss, {"loss": loss.detach(), "residual": residual.detach()}

    @torch.no_grad()
    def validate(self, model, batch: dict) -> dict[str, float]:
        u0, lengths, factors = batch["u0"], batch["length"].double(), batch["time_factor"].double()
        solver = self.solver(lengths, factors)
        dt = (self.frame_dt * factors).to(u0.device)
        states = self.rollout(model, u0, self.options.unroll)
        residual = self.residual(states, solver, dt)
        target = self.reference(u0, solver, states.shape[1] - 1)
        error = relative_l2_per_step(states[:, 1:].float(), target[:, 1:].float()).mean()
        # physics runs select their checkpoint by the residual, so they never use simulated data
        loss = {"residual": residual, "data": error, "mixed": residual + self.options.data_weight * error}
        return {"loss": float(loss[self.options.loss]), "residual": float(residual), "relative_l2": float(error)}

    # --- results -------------------------------------------------------------------------
    def checkpoint(self, model: torch.nn.Module) -> dict:
        metadata = self.data_metadata() | {
            "dt": self.frame_dt,
            "stride": 1,
            "first_frame": 0,
            "data_file": "",
            "recipe": self.config.data.recipe,
        }
        return super().checkpoint(model) | {
            "kind": "surrogate",
            "normalization": {"mean": self.mean.detach().cpu(), "std": self.std.detach().cpu()},
            "history": 1,
            "horizon": self.options.horizon,
            "residual": False,
            "metadata": metadata,
        }

    def report_text(self, report: dict) -> str:
        return "\n".join(f"{k:<28} {v:.4g}" for k, v in report.items() if isinstance(v, float))

    def evaluate(self, run_dir: Path, progress: bool = True) -> dict:
        """Rollouts of the best checkpoint from validation initial conditions against the solver."""
        import json

        import operators

        surrogate = operators.load(run_dir)
        batch = torch.utils.data.default_collate([self.val_set[i] for i in range(min(len(self.val_set), 8))])
        u0, lengths, factors = batch["u0"], batch["length"].double(), batch["time_factor"].double()
        steps = self.options.unroll * self.options.horizon
        target = self.reference(u0, self.solver(lengths, factors), steps)
        prediction = surrogate.predict(u0[:, None], steps).cpu()
        curve = relative_l2_per_step(prediction.float(), target[:, 1:].float()).tolist()
        report = {
            "relative_l2_rollout": float(sum(curve) / len(curve)),
            "relative_l2_last": curve[-1],
            "curve": curve,
            "trajectories": len(u0),
        }
        out = Path(run_dir) / "evaluation"
        out.mkdir(parents=True, exist_ok=True)
        (out / "evaluation.json").write_text(json.dumps(report, indent=2))
        return report


def solver_residual(solver, now: torch.Tensor, nxt: torch.Tensor, dt: torch.Tensor, batch: int, scheme: str):
    """``solver.residual`` for ``steps`` consecutive pairs per sample (a per-sample solver repeats its constants)."""
    if solver.batch_size is None:
        uniform = dt.numel() == 1 or torch.allclose(dt, dt[0])
        return solver.residual(now, nxt, float(dt[0]) if uniform else dt, scheme)
    steps = now.shape[0] // batch
    out = [solver.residual(now[i::steps], nxt[i::steps], dt[i::steps], scheme) for i in range(steps)]
    return torch.stack(out, dim=1).flatten(0, 1)
