"""``Trainer``: one training loop for every model and task.

It owns device placement, mixed precision (``torch.autocast``; gradient scaling
for fp16), gradient clipping, optimizer and per-step schedule, an optional EMA of
the weights, optional ``torch.compile``, DDP under torchrun, progress bars,
metric logs (CSV, JSON lines, TensorBoard when installed) and checkpoints:
``checkpoints/best.pt`` (the predictor with the best validation loss) and
``checkpoints/last.pt`` (the predictor of the last epoch plus, under the key
``training``, the full training state for ``resume``); both load with
``operators.load``. Checkpoints are written atomically by rank 0 only.

Everything objective-specific (batch layout, loss, metrics, what the predictor
holds) comes from the task (``training.tasks``); the trainer never looks inside a
batch.

Resuming is exact: the data order of epoch ``e`` depends only on ``(seed, e)``
and the RNG, optimizer, scheduler, scaler and EMA states are restored, so on the
CPU a run killed and resumed ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm.auto import tqdm

from operators.predictors.checkpoint import load_checkpoint, save_checkpoint, tensor_state_dict
from operators.predictors.registry import from_payload
from solvers.device import resolve_device as solvers_resolve_device
from solvers.errors import InputError, MissingFileError
from training.config import RunConfig
from training.data import GroupedBatchSampler
from training.distributed import DistributedContext, all_reduce_sum, context_from_environment, initialise
from training.optim import build_optimizer, build_scheduler

if TYPE_CHECKING:  # for the annotation only: the registry imports every task module, which the trainer needs not
    from training.tasks import Task

#: seconds between progress-bar refreshes (each reads the running loss back from the device)
REPORT_SECONDS = 0.5
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class TrainingDivergedError(InputError, FloatingPointError):
    """The loss became non-finite (a learning rate or precision the run cannot sustain)."""


def resolve_device(name: str, context: DistributedContext) -> torch.device:
    """``auto`` -> the local GPU when there is one, else the CPU; ``cuda`` under torchrun -> ``cuda:LOCAL_RANK``."""
    device = solvers_resolve_device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", context.local_rank)
    return device


class Trainer:
    """Train ``model`` on a task.

    Args:
        model: built by ``operators.build``.
        task: a ``training.tasks.Task`` (loss, metrics, batch size, checkpoint payload).
        config: the run configuration (``train``, ``optim``, ``schedule``, ``data`` sections).
        run_dir: where logs and checkpoints go.
        progress: show progress bars (rank 0).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        task: Task,
        config: RunConfig,
        run_dir: str | Path,
        progress: bool = True,
    ):
        self.config, self.task = config, task
        self.run_dir = Path(run_dir)
        self.context = context_from_environment()
        self.device = resolve_device(config.train.device, self.context)
        precision = config.train.precision
        if precision == "fp16" and self.device.type != "cuda":
            raise InputError("fp16 training needs a CUDA device (it relies on gradient scaling); use bf16 or fp32 here")
        self.autocast_dtype = AUTOCAST_DTYPES[precision]
        initialise(self.context, self.device)
        self.model = model.to(self.device)  # the plain module: saved, averaged, rebuilt
        self.task.to(self.device)
        self.ema = None
        if config.train.ema_decay is not None:
            self.ema = torch.optim.swa_utils.AveragedModel(
                self.model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.train.ema_decay)
            )
        forward = torch.compile(self.model) if config.train.compile else self.model
        if self.context.enabled:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            forward = DistributedDataParallel(forward, device_ids=device_ids)
        self.forward_model = forward
        self.optimizer = build_optimizer(self.model.parameters(), config.optim)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=precision == "fp16")
        self.progress = progress and self.context.is_main
        self.history: list[dict] = []
        self.best_score = math.inf
        self.start_epoch = 0

    # --- data ----------------------------------------------------------------------------
    def _train_loader(self, dataset: Dataset) -> tuple[DataLoader, DistributedSampler | GroupedBatchSampler]:
        # one code path for one or many processes: the order of epoch e depends on (seed, e) only
        if hasattr(dataset, "group_sizes"):  # several resolutions: a batch never mixes grids
            context, data = self.context, self.config.data
            batches = GroupedBatchSampler(
                dataset.group_sizes, data.batch_size, context.world_size, context.rank, self.config.train.seed
            )
            loader = DataLoader(
                dataset, batch_sampler=batches, num_workers=data.num_workers, pin_memory=self.device.type == "cuda"
            )
            return loader, batches
        sampler = DistributedSampler(
            dataset,
            num_replicas=self.context.world_size,
            rank=self.context.rank,
            shuffle=True,
            seed=self.config.train.seed,
        )
        loader = DataLoader(
            dataset,
            batch_size=self.config.data.batch_size,
            sampler=sampler,
            num_workers=self.config.data.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        return loader, sampler

    def _val_loader(self, dataset: Dataset) -> DataLoader:
        # each process validates every world_size-th window, no padding, so the all-reduced mean is exact
        shard = Subset(dataset, range(self.context.rank, len(dataset), self.context.world_size))
        return DataLoader(shard, batch_size=self.config.data.batch_size, num_workers=self.config.data.num_workers)

    def _to_device(self, batch: dict) -> dict:
        return {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def _autocast(self):
        if self.autocast_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    # --- loop ----------------------------------------------------------------------------
    def fit(
        self,
        train_dataset: Dataset,
        val_dataset: Dataset | None,
        resume: bool = False,
        on_start: Callable | None = None,
    ) -> list[dict]:
        """Train for ``config.train.epochs`` epochs (continuing a previous run with ``resume``).

        Without ``val_dataset`` (a training file too small for a validation split) nothing is validated and
        every epoch's weights become the best checkpoint, so ``best.pt`` holds the last epoch's.

        ``on_start()`` runs once the previous state has been restored (or the run seeded),
        before the first epoch: ``train`` saves the run's config there, so a resume that
        fails to load changes nothing on disk.
        """
        train_loader, sampler = self._train_loader(train_dataset)
        val_loader = self._val_loader(val_dataset) if val_dataset is not None else None
        epochs = self.config.train.epochs
        steps_per_epoch = len(train_loader)
        if steps_per_epoch == 0:
            raise InputError("the training set is empty: generate more samples or lower data.batch_size")
        self.scheduler = build_scheduler(
            self.optimizer, self.config.schedule, epochs * steps_per_epoch, steps_per_epoch
        )
        if self.context.is_main:
            (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        if resume:
            self._restore()
        else:
            self._seed_everything(self.config.train.seed)
        if on_start is not None:
            on_start()
        writer = self._tensorboard()
        for epoch in range(self.start_epoch, epochs):
            sampler.set_epoch(epoch)
            self.task.set_epoch(epoch)
            row = {"epoch": epoch + 1, **self._train_epoch(train_loader, epoch, epochs)}
            if val_loader is not None:
                row.update({f"val_{k}": v for k, v in self._validate(val_loader).items()})
            row["lr"] = self.optimizer.param_groups[0]["lr"]
            improved = val_loader is None or row["val_loss"] < self.best_score
            if improved and val_loader is not None:
                self.best_score = row["val_loss"]
            self.history.append(row)
            if self.context.is_main:
                saving = time.perf_counter()
                if improved:
                    save_checkpoint(self._best_payload(), self.run_dir / "checkpoints" / "best.pt")
                if (epoch + 1) % self.config.train.checkpoint_every == 0 or epoch + 1 == epochs:
                    save_checkpoint(self._training_state(epoch), self.run_dir / "checkpoints" / "last.pt")
                # the atomic, fsynced writes have a cost worth seeing beside the epoch's
                row["checkpoint_seconds"] = time.perf_counter() - saving
                self._log(row, writer)
            self._barrier()
        if writer is not None:
            writer.close()
        return self.history

    def _train_epoch(self, loader: DataLoader, epoch: int, epochs: int) -> dict:
        """One pass over ``loader``. The loss is summed on the model's device and read back (a device
        synchronisation) only to check it and refresh the progress bar, every ``REPORT_SECONDS``, and at
        the end; on the CPU, where reading costs nothing, it is checked after every step."""
        self.forward_model.train()
        running = torch.zeros((), dtype=torch.float64, device=self.device)  # sum of loss * batch size
        samples = 0
        start = last_report = time.perf_counter()
        check_every_step = self.device.type == "cpu"
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not self.progress, leave=False)
        for batch in bar:
            batch = self._to_device(batch)
            with self._autocast():
                loss, _ = self.task.loss(self.forward_model, batch)
            if check_every_step:
                self._check_finite(float(loss.detach()), epoch)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.config.optim.grad_clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            size = self.task.batch_size(batch)
            running += loss.detach().double() * size
            samples += size
            now = time.perf_counter()
            if now - last_report >= REPORT_SECONDS:
                mean = float(running) / samples
                self._check_finite(mean, epoch)
                bar.set_postfix(loss=f"{mean:.4g}", samples_per_s=f"{samples / (now - start):.0f}")
                last_report = now
        totals = all_reduce_sum(
            torch.stack([running.cpu(), torch.tensor(float(samples), dtype=torch.float64)]), self.context
        )
        seconds = time.perf_counter() - start
        self._check_finite(float(totals[0] / totals[1]), epoch)
        return {
            "train_loss": float(totals[0] / totals[1]),
            "seconds": seconds,
            "samples_per_second": float(totals[1]) / seconds,
        }

    @staticmethod
    def _check_finite(loss: float, epoch: int) -> None:
        if not math.isfinite(loss):
            raise TrainingDivergedError(f"the loss became {loss} in epoch {epoch + 1}; lower optim.lr or use fp32")

    @torch.no_grad()
    def _validate(self, loader: DataLoader) -> dict:
        model = self.ema.module if self.ema is not None else self.model
        model.eval()
        # the names come from the task, so a process without validation batches joins the same reduction
        names = list(self.task.metric_names)
        totals = torch.zeros(len(names) + 1, dtype=torch.float64)
        for batch in loader:
            batch = self._to_device(batch)
            with self._autocast():
                metrics = self.task.validate(model, batch)
            missing = sorted(set(names) - set(metrics))
            if missing:
                raise RuntimeError(f"task {self.task.kind!r} did not return its metrics {missing} from validate()")
            size = self.task.batch_size(batch)
            totals += torch.tensor([metrics[n] * size for n in names] + [size], dtype=torch.float64)
        totals = all_reduce_sum(totals, self.context)
        if totals[-1] == 0:
            raise InputError("the validation set is empty: generate more samples")
        return {name: float(totals[i] / totals[-1]) for i, name in enumerate(names)}

    # --- state ---------------------------------------------------------------------------
    def _weights(self) -> dict:
        return tensor_state_dict(self.ema.module if self.ema is not None else self.model)

    def predictor(self):
        """The current (EMA) weights as the task's predictor (e.g. a ``Surrogate``) on the CPU."""
        return from_payload(self._best_payload(), "cpu", "this run's checkpoint")

    surrogate = predictor  # the name from before tasks had predictor kinds

    def _best_payload(self) -> dict:
        model = self.ema.module if self.ema is not None else self.model
        return {**self.task.checkpoint(model), "epoch": len(self.history), "val_loss": self.best_score}

    def _training_state(self, epoch: int) -> dict:
        """The predictor of this epoch plus, under ``training``, everything ``resume`` needs."""
        return {
            **self._best_payload(),
            "training": {
                "model_state_dict": tensor_state_dict(self.model),
                "ema_state_dict": tensor_state_dict(self.ema) if self.ema is not None else None,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "epoch": epoch,
                "best_score": self.best_score,
                "epochs": self.history,
                "data": self.task.data_identity(),
                "rng": {
                    "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                },
            },
        }

    def _restore(self) -> None:
        path = self.run_dir / "checkpoints" / "last.pt"
        if not path.is_file():
            raise MissingFileError(f"nothing to resume: {path} does not exist")
        payload = load_checkpoint(path, map_location="cpu")
        if "training" in payload:
            state = payload["training"]
            weights, rows = state["model_state_dict"], state["epochs"]
        else:  # written before the training state had its own key
            state = payload
            weights, rows = state["state_dict"], state["history"]
        self.model.load_state_dict(weights)
        if self.ema is not None and state.get("ema_state_dict") is not None:
            self.ema.load_state_dict(state["ema_state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.start_epoch = int(state["epoch"]) + 1
        self.best_score = float(state["best_score"])
        self.history = list(rows)
        state = {"rng": state["rng"]}
        if self.context.is_main:
            self._rewrite_logs()  # drop rows of an epoch that was interrupted after logging
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        if torch.cuda.is_available() and rng["cuda"]:
            torch.cuda.set_rng_state_all(rng["cuda"])

    @staticmethod
    def _seed_everything(seed: int) -> None:
        # pdeop draws all randomness from torch (data order comes from the sampler's own seed)
        torch.manual_seed(seed)

    def _barrier(self) -> None:
        if self.context.enabled:
            torch.distributed.barrier()

    # --- logs ----------------------------------------------------------------------------
    def _tensorboard(self):
        if not self.context.is_main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None  # optional: metrics.csv and metrics.jsonl hold the same numbers
        return SummaryWriter(self.run_dir / "tensorboard")

    def _rewrite_logs(self) -> None:
        for name in ("metrics.csv", "metrics.jsonl"):
            (self.run_dir / name).unlink(missing_ok=True)
        for row in self.history:
            self._log(row, None, echo=False)

    def _log(self, row: dict, writer, echo: bool = True) -> None:
        csv_path = self.run_dir / "metrics.csv"
        new = not csv_path.exists()
        fields = list(row)
        if not new:  # a resumed run keeps its file's columns (written, perhaps, by an older version)
            with open(csv_path, newline="") as handle:
                fields = next(csv.reader(handle), fields)
        with open(csv_path, "a", newline="") as handle:
            out = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
            if new:
                out.writeheader()
            out.writerow(row)
        with open(self.run_dir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")
        if writer is not None:
            for key, value in row.items():
                if key != "epoch":
                    writer.add_scalar(key, value, row["epoch"])
        if self.progress and echo:
            validated = "val_loss" in row
            metrics = "  ".join(
                f"{name} {row[f'val_{name}']:.4g}" for name in self.task.metric_names if name != "loss" and validated
            )
            tqdm.write(
                f"epoch {row['epoch']}: train {row['train_loss']:.4g}  "
                f"{'val ' + format(row['val_loss'], '.4g') if validated else 'no validation'}  "
                f"{metrics + '  ' if metrics else ''}{row['samples_per_second']:.0f} samples/s"
            )
