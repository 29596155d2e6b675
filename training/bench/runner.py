"""The bench itself (``Bench``): every chosen model on one suite's data and budget, scored into one leaderboard.

A suite is a problem (``SUITES``: our presets, or a Well dataset directory); a tier fixes its size
(``tiny``: seconds, for tests and a first look; ``cpu-small``: minutes per model on a laptop CPU;
``paper``: the papers' sizes and the shipped configs, GPU hours). For each model the bench generates
(or reuses) the suite's data, trains with the model's settings at the tier's size through the shared
trainer, evaluates the best checkpoint on the test split (``training.evaluation.rollouts``), times inference
per trajectory at batch ``INFERENCE_BATCH`` and the spectral solver over the same horizon on the same
grid and device, and writes ``OUT/models/<model>/result.json``. Finished models are never redone: an
interrupted bench continues where it stopped (a half-trained model resumes from its last checkpoint).
``training.bench.leaderboard`` renders the results.

Every registered model is benchable: an observer forecasts from its last state; ``latent-dit`` trains its
autoencoder first (``BenchSetup.stage``, kept and resumed like the model) and forecasts as many steps as
its generated trajectories hold (the ``steps`` column), scored over those steps; the trajectory
autoencoder has no row of its own.

Budgets: ``epochs`` (every model the same epochs), ``seconds`` (the same training wall-clock: one
probe epoch measures each model's speed, then it trains for the epochs that fit), ``parameters``
(each model's width chosen by bisection so that its parameter count is closest to a target).

Besides the speed-up over the data's own solver configuration, every row gets its speed-up at equal
accuracy against the solver ladder of its horizon (``training.bench.ladder``: the suite's solver at coarser
grids and larger steps, run once per horizon and kept in ``OUT/ladder.json``).

Each model declares its setup where it registers (``operators.BenchSetup`` in ``operators/models/``):
the tier-sized model with what the ablations (``benchmarks/ablation.py``) showed it needs on these
suites: positions for the translation-equivariant MgNO and SineNet, centred sub-tasks with their
points' coordinates for NeuralStagger; the observer task passes over every window each epoch and a
first-frame generator forecasts with the mean of its ``members`` samples (``Generator.predict``).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import operators
import pde_data
from operators.predictors.forecaster import as_forecaster
from pde_data.locks import RunLock
from pde_data.sources import open_source
from pde_data.storage import atomic_output, file_recipe
from solvers.device import resolve_device
from solvers.errors import InputError
from training.bench.ladder import run_ladder, speedup_at_equal_accuracy
from training.bench.suites import BUDGETS, TIER_EPOCHS, TIERS, setup_of, suite_recipe, tier_hyperparameters
from training.config import RunConfig, load_config
from training.evaluation.rollouts import dataset_constants, dataset_trajectories, evaluate_surrogate, model_frames
from training.prediction import solver_seconds
from training.run import build_model, train
from training.tasks import build_task

#: trajectories per timed inference call (the performance goal's batch), and timing repeats
INFERENCE_BATCH = 64
REPEATS = 3


@dataclass
class Bench:
    """One bench: ``suite`` (a ``SUITES`` name or a Well dataset directory), ``tier``, ``budget`` and where it writes.

    ``budget_value``: seconds per model (``seconds``), the target parameter count (``parameters``; default the
    first model's count at the tier's size) or the epochs (``epochs``; default the tier's). ``bundle``: states
    each next-step model predicts per call (temporal bundling, ``data.horizon``; Brandstetter et al. 2022), so
    that a rollout takes ``1 / bundle`` as many calls; ``direct``: each next-step model is trained instead as
    the solution operator ``u(0) -> u(T)`` (the ``operator`` task: the whole horizon in one call, scored and
    compared with the solver ladder at ``T`` alone). Models trained by other tasks can do neither and are
    listed with that reason.
    """

    suite: str
    out: Path
    tier: str = "cpu-small"
    budget: str = "epochs"
    budget_value: float | None = None
    device: str = "cpu"
    progress: bool = True
    bundle: int = 1
    direct: bool = False
    #: during ``retime``: the solver measurements (file, key) made anew so far; the others are stale
    _retimed: set | None = dataclasses.field(default=None, init=False, repr=False)

    def __post_init__(self):
        self.out = Path(self.out)
        if self.budget not in BUDGETS:
            raise InputError(f"unknown budget {self.budget!r}; known: {', '.join(BUDGETS)}")
        if self.tier not in TIERS:
            raise InputError(f"unknown tier {self.tier!r}; known: {', '.join(TIERS)}")
        if self.budget_value is not None and not self.budget_value > 0:
            raise InputError(f"the budget's value must be positive, got {self.budget_value!r}")
        if isinstance(self.bundle, bool) or not isinstance(self.bundle, int) or self.bundle < 1:
            raise InputError(f"the bundle (states per model call) must be a positive integer, got {self.bundle!r}")
        if self.direct and self.bundle > 1:
            raise InputError("a direct operator makes one call for the whole horizon: it takes no bundle")
        self.well = Path(self.suite).exists()  # a data directory, not a suite or preset name
        if self.well and open_source(self.suite, "train").generated:
            raise InputError(f"{self.suite} is a pdeop file: bench the preset it was generated from (its name)")
        if not self.well:
            suite_recipe(self.suite, self.tier)  # checks the name before anything is written
        self.device = str(resolve_device(self.device))

    # --- data ------------------------------------------------------------------------------
    def data(self) -> Path:
        """The suite's data: a Well directory as it is, else our file (generated once, resumable)."""
        if self.well:
            return Path(self.suite)
        recipe = suite_recipe(self.suite, self.tier)
        path = self.out / "data" / f"{recipe.name}.h5"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            parts = Path(f"{path}.parts")
            pde_data.generate(
                recipe, path, recipe.samples["train"], device=self.device, progress=self.progress, resume=parts.exists()
            )
        return path

    # --- one model -------------------------------------------------------------------------
    def config(self, model: str, data: Path, extra: list[str] | None = None) -> RunConfig:
        setup = setup_of(model)
        shipped = setup.shipped.get(self.suite, setup.shipped.get("*")) if self.tier == "paper" else None
        base = Path(__file__).parent / "configs" / f"{shipped}.yaml" if shipped else None
        epochs = TIER_EPOCHS[self.tier]
        overrides = [
            f"data.path={data}",
            f"model.name={model}",
            f"train.device={self.device}",
            f"task.kind={'operator' if self.direct else setup.task}",
            "train.eval_trajectories=4",
        ]
        if setup.stage is not None:
            overrides.append(f"task.autoencoder={self.stage_run(model)}")
        if (self.bundle > 1 or self.direct) and setup.task != "next-step":
            way = "are trained as direct operators" if self.direct else "bundle states per call"
            raise InputError(f"{model} trains with task {setup.task}: only next-step models {way}")
        if self.bundle > 1:
            overrides.append(f"data.horizon={self.bundle}")
        hyper = tier_hyperparameters(setup.small, self.tier)
        if hyper:
            overrides.append(f"model.hyperparameters={json.dumps(hyper)}")
        if self.tier != "paper" and not self.direct:  # the options of the setup's task, not the operator task's
            overrides += [f"task.{key}={value}" for key, value in setup.task_options.items()]
        if epochs is not None:
            overrides.append(f"train.epochs={epochs}")
        if self.tier != "paper":
            overrides.append("data.batch_size=8" if self.tier == "tiny" else "data.batch_size=16")
        return load_config(base, [*overrides, *(extra or [])])

    def stage_run(self, model: str) -> Path:
        return self.out / "models" / model / "stage"

    def train_stage(self, model: str, data: Path) -> float:
        """Train (or resume, or reuse) ``model``'s first stage at the tier's size; its training seconds."""
        stage, run = setup_of(model).stage, self.stage_run(model)
        if self.well:
            raise InputError(f"{model} trains on whole trajectories of pdeop files, not on Well data")
        base = Path(__file__).parent / "configs" / f"{stage['shipped']}.yaml" if self.tier == "paper" else None
        overrides = [
            f"data.path={data}",
            f"model.name={stage['model']}",
            f"task.kind={stage['task']}",
            f"train.device={self.device}",
        ]
        if self.tier != "paper":
            hyper = tier_hyperparameters(stage["small"], self.tier)
            factor = 2 ** (len(hyper["multipliers"]) - 1)
            frames = len(file_recipe(data).frame_indices()) // factor * factor
            overrides += [
                f"model.hyperparameters={json.dumps(hyper)}",
                f"train.epochs={TIER_EPOCHS[self.tier]}",
                f"optim.lr={stage['lr']}",
                "data.batch_size=8",
                f"task.frames={frames}",
            ]
        resume = (run / "checkpoints" / "last.pt").is_file()  # a finished stage resumes with nothing left to do
        train(load_config(base, overrides), run, resume=resume, progress=self.progress, evaluate=False)
        return training_seconds(run)

    def budgeted(self, model: str, data: Path, target: int | None) -> tuple[RunConfig, dict]:
        """The model's config under the budget, and what the budget decided."""
        config = self.config(model, data)
        if self.budget == "epochs":
            if self.budget_value is not None:
                config = self.config(model, data, [f"train.epochs={int(self.budget_value)}"])
            return config, {"epochs": config.train.epochs}
        if self.budget == "parameters":
            width_key = setup_of(model).width_key
            width = matched_width(config, width_key, target) if target else None
            if width is not None:
                hyper = {**config.model.hyperparameters, width_key: width}
                config = self.config(model, data, [f"model.hyperparameters={json.dumps(hyper)}"])
            return config, {"epochs": config.train.epochs, "width": width, "target_parameters": target}
        seconds = float(self.budget_value or 60.0)
        probe = self.out / "models" / model / "probe"
        shutil.rmtree(probe, ignore_errors=True)
        one = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=1))
        train(one, probe, progress=False, evaluate=False)
        per_epoch = training_seconds(probe)  # the epoch itself, not the run's start-up
        shutil.rmtree(probe, ignore_errors=True)
        epochs = max(1, int(seconds // per_epoch))
        return self.config(model, data, [f"train.epochs={epochs}"]), {
            "epochs": epochs,
            "seconds_per_epoch": per_epoch,
            "budget_seconds": seconds,
        }

    def run_model(self, model: str, data: Path, target: int | None = None) -> dict:
        """Train, evaluate and time ``model`` (or read its finished result)."""
        folder = self.out / "models" / model
        result_file = folder / "result.json"
        if result_file.is_file():
            return json.loads(result_file.read_text())
        stage_seconds = self.train_stage(model, data) if setup_of(model).stage is not None else 0.0
        config, decided = self.budgeted(model, data, target)
        run = folder / "run"
        resume = (run / "checkpoints" / "last.pt").is_file()  # interrupted while training: continue it
        train(config, run, resume=resume, progress=self.progress, evaluate=False)
        predictor = as_forecaster(operators.load(run, device=self.device))
        split = "test"
        report = evaluate_surrogate(
            predictor, data, folder / "evaluation", split, None, None, getattr(predictor, "max_steps", None)
        )
        result = {
            "model": model,
            "parameters": operators.parameter_count(predictor.model),
            **decided,
            "train_seconds": training_seconds(run) + stage_seconds,
            **scores(report),
            **self.timing(predictor, data, split),
        }
        _write_json(result_file, result)
        return result

    def timing(self, predictor, data: Path, split: str) -> dict:
        """Inference seconds per trajectory at batch ``INFERENCE_BATCH``, the solver's on the same batch,
        horizon and device, and the peak memory during inference."""
        samples, trajectories = dataset_trajectories(data, split, None)
        constant = dataset_constants(data, split, samples)
        frames = model_frames(predictor, trajectories)
        history = predictor.history
        steps = min(frames.shape[1] - history, getattr(predictor, "max_steps", None) or frames.shape[1])
        repeat = math.ceil(INFERENCE_BATCH / len(samples))
        given = frames[:, :history].repeat(repeat, *(1,) * (frames.dim() - 1))[:INFERENCE_BATCH]
        if constant is not None:
            constant = constant.repeat(repeat, *(1,) * (constant.dim() - 1))[:INFERENCE_BATCH]
        device = torch.device(self.device)
        given = given.to(device)
        predictor.predict(given, 1, None, constant)  # warm-up
        baseline = reset_peak_memory(device)
        seconds = []
        for _ in range(REPEATS):
            synchronize(device)
            start = time.perf_counter()
            predictor.predict(given, steps, None, constant)
            synchronize(device)
            seconds.append(time.perf_counter() - start)
        out = {
            "inference_seconds_per_trajectory": statistics.median(seconds) / len(given),
            "inference_batch": len(given),
            "inference_call_batch": trajectories_per_call(predictor, given),
            "rollout_steps": steps,
            "peak_memory_mb": peak_memory_mb(device, baseline),
            "solver_seconds_per_trajectory": None,
            "solver": None,
        }
        if not self.well:
            stride = int(predictor.metadata.get("stride", 1))
            frames_ahead = steps * stride
            reference = self.solver_reference(data, frames_ahead, len(given))
            start = int(predictor.metadata.get("first_frame", 0)) + (history - 1) * stride  # the last given frame
            out.update(
                solver_seconds_per_trajectory=reference["seconds_per_trajectory"],
                solver=reference["solver"],
                solver_frames=frames_ahead,
                start_frame=start,
                stride=stride,
            )
        return out

    def solver_reference(self, data: Path, frames: int, batch: int) -> dict:
        """The spectral solver advancing ``batch`` test initial states by ``frames`` stored-frame intervals:
        median of ``REPEATS`` timings, measured once per horizon and kept in ``OUT/solver.json`` so that every
        row is compared with the same reference."""
        path = self.out / "solver.json"
        measured = json.loads(path.read_text()) if path.is_file() else {}
        key = f"{frames} frames, batch {batch}, {self.device}"
        if self._needs_measuring("solver.json", key, measured):
            _, trajectories = dataset_trajectories(data, "test", None)  # channel 0: the solved field
            repeat = math.ceil(batch / len(trajectories))
            states = trajectories[:, 0, 0].repeat(repeat, *(1,) * (trajectories.dim() - 3))[:batch]
            device = torch.device(self.device)
            runs = [solver_seconds(file_recipe(data), states, frames, device) for _ in range(REPEATS)]
            seconds = [run[0] for run in runs]
            measured[key] = {
                "seconds_per_trajectory": statistics.median(seconds) / len(states),
                "solver": runs[0][1],
                "seconds": seconds,
                "threads": torch.get_num_threads(),
            }
            _write_json(path, measured)
        return measured[key]

    # --- the whole bench -------------------------------------------------------------------
    def run(self, models: list[str]) -> list[dict]:
        for model in models:
            setup_of(model)  # every name checked before anything is trained
        self.out.mkdir(parents=True, exist_ok=True)
        # a second bench into the same folder would time its models beside this one's (and redo its work)
        with RunLock(self.out / "bench.lock", f"benching into {self.out}"):
            return self._run(models)

    def _run(self, models: list[str]) -> list[dict]:
        settings = {
            "suite": str(self.suite),
            "tier": self.tier,
            "budget": self.budget,
            "budget_value": self.budget_value,
            "bundle": self.bundle,
            "direct": self.direct,
            "device": self.device,
        }
        existing = self.out / "bench.json"
        if existing.is_file():  # finished models would be mixed with others trained differently
            before = {"bundle": 1, "direct": False, **json.loads(existing.read_text())}
            changed = [
                f"{key} {before.get(key)!r} -> {value!r}" for key, value in settings.items() if before.get(key) != value
            ]
            if changed:
                raise InputError(
                    f"{self.out} holds a bench with other settings ({'; '.join(changed)}): use another --out"
                )
        _write_json(existing, settings)
        data = self.data()
        target = None
        if self.budget == "parameters":
            target = int(self.budget_value) if self.budget_value else count_parameters(self.config(models[0], data))
        results = []
        for model in models:
            failed = self.out / "models" / model / "failed.json"
            try:
                results.append(self.with_reference(self.run_model(model, data, target), data))
                failed.unlink(missing_ok=True)
            except InputError as error:  # this model cannot run on this suite: say why, go on with the others
                _write_json(failed, {"model": model, "reason": str(error).splitlines()[0]})
        return results

    def retime(self, models: list[str], solver: bool = True) -> list[dict]:
        """Time the finished ``models`` again (inference, the solver reference and the solver ladder), keeping
        their scores and training: for benches trained side by side on a shared machine and timed alone on a
        quiet one. A model without a finished result is named and skipped; nothing is trained. ``solver=False``
        keeps the stored solver and ladder timings (measured alone already)."""
        with RunLock(self.out / "bench.lock", f"benching into {self.out}"):
            data = self.data()
            # measured beside the training: each horizon these models use is measured anew; the entries of
            # other horizons (models not retimed now) are kept
            self._retimed = set() if solver else None
            try:
                retimed = (self._retime_model(model, data) for model in models)
                return [result for result in retimed if result is not None]
            finally:
                self._retimed = None

    def _retime_model(self, model: str, data: Path) -> dict | None:
        folder = self.out / "models" / model
        if not (folder / "result.json").is_file():
            if self.progress:
                print(f"{model}: not finished in {self.out}, not retimed", flush=True)
            return None
        result = json.loads((folder / "result.json").read_text())
        predictor = as_forecaster(operators.load(folder / "run", device=self.device))
        result = {**result, **self.timing(predictor, data, "test"), "retimed": True}
        _write_json(folder / "result.json", result)
        return self.with_reference(result, data)

    def _needs_measuring(self, file: str, key: str, measured: dict) -> bool:
        """Whether ``measured[key]`` (from ``OUT/file``) must be measured now: absent, or stale during a retime."""
        stale = self._retimed is not None and (file, key) not in self._retimed
        if self._retimed is not None:
            self._retimed.add((file, key))
        return key not in measured or stale

    def ladder(self, data: Path, start: int, steps: int, stride: int, batch: int) -> list[dict]:
        """The solver ladder (``training.bench.ladder``) from stored frame ``start`` over ``steps`` states ``stride``
        frames apart, on the test trajectories: measured once per horizon and kept in ``OUT/ladder.json``."""
        path = self.out / "ladder.json"
        measured = json.loads(path.read_text()) if path.is_file() else {}
        key = f"from frame {start}, {steps} x {stride} frames, batch {batch}, {self.device}"
        if self._needs_measuring("ladder.json", key, measured):
            samples, _ = dataset_trajectories(data, "test", None)

            def said(row: dict) -> None:
                if self.progress:
                    print(
                        f"solver ladder {row['solver']}: rollout relative L2 {row['relative_l2_rollout']:.3g}, "
                        f"{row['seconds_per_trajectory']:.3g} s per trajectory",
                        flush=True,
                    )

            repeats = 1 if self.tier == "tiny" else REPEATS  # the tiny tier checks the plumbing, not the speed
            rows = run_ladder(file_recipe(data), data, samples, start, steps, stride, batch, self.device, repeats, said)
            measured[key] = {"rungs": rows, "threads": torch.get_num_threads(), "samples": samples, "steps": steps}
            _write_json(path, measured)
        return measured[key]["rungs"]

    def with_reference(self, result: dict, data: Path) -> dict:
        """``result`` with the bench's solver reference for its horizon (one measurement shared by every row;
        results written before the reference existed are updated in place) and its speed-up at equal accuracy
        against the solver ladder of its horizon (``training.bench.ladder``)."""
        if self.well or result.get("solver") is None:
            return result
        frames = result.get("solver_frames") or result["rollout_steps"]  # rows before solver_frames: stride 1
        reference = self.solver_reference(data, frames, result["inference_batch"])
        stride, start = result.get("stride", 1), result.get("start_frame", 0)
        ladder = self.ladder(data, start, result["rollout_steps"], stride, result["inference_batch"])
        speedup, rung = speedup_at_equal_accuracy(
            result["relative_l2_rollout"], result["inference_seconds_per_trajectory"], ladder
        )
        updated = {
            **result,
            "solver_frames": frames,
            "solver_seconds_per_trajectory": reference["seconds_per_trajectory"],
            "solver": reference["solver"],
            "speedup_equal_accuracy": speedup,
            "equal_accuracy_solver": rung and rung["solver"],
            "equal_accuracy_solver_error": rung and rung["relative_l2_rollout"],
        }
        if updated != result:
            _write_json(self.out / "models" / result["model"] / "result.json", updated)
        return updated


def score_external(bench: Bench, predictions: Path) -> dict:
    """Score a predictions file (rollouts of a model outside pdeop, ``training.evaluation.write_predictions``
    layout) against the suite's data, as a leaderboard row under ``OUT/external/<file stem>/``."""
    from training.evaluation.rollouts import check_predictions, score_predictions

    predictions = Path(predictions)
    name = check_predictions(predictions)
    folder = bench.out / "external" / predictions.stem
    report = score_predictions(predictions, bench.data(), folder / "evaluation")
    result = {"model": f"{name} (external: {predictions.name})", "parameters": None, **scores(report)}
    _write_json(folder / "result.json", result)
    return result


def scores(report: dict) -> dict:
    """The leaderboard's accuracy columns from an evaluation report."""
    model, persistence = report["model"]["summary"], report["persistence"]["summary"]
    return {
        "relative_l2_one_step": model.get("relative_l2_one_step"),
        "relative_l2_rollout": model["relative_l2_rollout"],
        "vrmse_rollout": model["vrmse_rollout"],
        "high_correlation_time": model["high_correlation_time_0.8"],
        "persistence_relative_l2_rollout": persistence["relative_l2_rollout"],
        "relative_l2_per_step": report["model"]["curves"]["relative_l2"],
        "dt": report["dt"],
    }


def count_parameters(config: RunConfig) -> int:
    return operators.parameter_count(build_model(config, build_task(config)))


def matched_width(config: RunConfig, key: str | None, target: int) -> int | None:
    """The integer ``key`` (a width) whose model's parameter count is closest to ``target`` (bisection:
    the count grows with the width); None for models without a width key."""
    if key is None:
        return None
    task = build_task(config)

    def count(width: int) -> int:
        hyper = {**config.model.hyperparameters, key: width}
        model_config = dataclasses.replace(config, model=dataclasses.replace(config.model, hyperparameters=hyper))
        try:
            return operators.parameter_count(build_model(model_config, task))
        except InputError:  # e.g. heads must divide the width
            return -1

    low, high = 2, 2
    while 0 <= count(high) < target and high < 4096:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if 0 <= count(middle) < target:
            low = middle
        else:
            high = middle
    candidates = [w for w in (low, high) if count(w) > 0]
    return min(candidates, key=lambda w: abs(count(w) - target)) if candidates else None


def trajectories_per_call(predictor, given: torch.Tensor) -> int:
    """Trajectories of the timed batch ``given`` per model call: a surrogate's fast inference splits a CPU
    batch (``Surrogate.trajectories_per_call``); other forecasters take it whole."""
    split = getattr(predictor, "trajectories_per_call", None)
    return split(given) if split is not None else len(given)


def training_seconds(run: Path) -> float:
    """Seconds the run's epochs took (summed from ``metrics.csv``, so a resumed run counts every epoch once)."""
    with open(run / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    last = {int(row["epoch"]): float(row["seconds"]) for row in rows}  # a re-run epoch counts once
    return sum(last.values())


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> float:
    """Start a new peak (CUDA's allocator peak, or on Linux the process's resident-set peak through
    ``clear_refs``); returns the MiB in use now, which ``peak_memory_mb`` subtracts on the CPU."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return 0.0
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return 0.0
    return _status_mib("VmRSS") or 0.0


def peak_memory_mb(device: torch.device, baseline: float = 0.0) -> float | None:
    """MiB at the peak since ``reset_peak_memory``: CUDA memory allocated (weights included); on the CPU the
    growth of the process's resident set over ``baseline`` (Linux only, else None)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = _status_mib("VmHWM")
    return None if peak is None else max(0.0, peak - baseline)


def _status_mib(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(value, indent=1))
