"""Run configuration: typed sections read from YAML, every field overridable with ``--set key=value``.

Unknown keys are rejected with the list of valid ones; values from ``--set``
are parsed as YAML (``--set optim.lr=3e-4``, ``--set train.ema_decay=null``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from solvers.errors import InputError, MissingFileError
from training.tasks.options import DEFAULT_TASK, check_model_and_task, options_class


@dataclass
class DataConfig:
    """Where the data comes from. ``history``, ``horizon`` and ``stride`` shape the windows of the
    ``window`` data mode (``stride`` counts stored frames between model states); ``recipe``,
    ``samples`` and ``seed`` draw the ``initial-condition`` mode's states (no file)."""

    path: str = ""
    val_path: str | None = None  # default: the validation split of ``path``
    history: int = 1
    horizon: int = 1
    stride: int = 1
    first_frame: int = 0  # windows and evaluation rollouts start here (1: the FNO paper's t = 1)
    batch_size: int = 16
    num_workers: int = 0
    train_split: str | None = "train"
    val_split: str | None = "valid"
    recipe: str | None = None  # initial-condition mode: a preset name
    samples: int | None = None  # initial-condition mode: states per epoch (default 128)
    seed: int = 0  # initial-condition mode: the base seed of the draws
    # window mode: the same problem stored at other resolutions; each training batch is drawn from one file
    extra_train_paths: list[str] = field(default_factory=list)


@dataclass
class ModelConfig:
    """A registered architecture; data-derived hyperparameters (channels, ndim, grid_size) are filled in."""

    name: str = "fno"
    hyperparameters: dict = field(default_factory=dict)


@dataclass
class OptimConfig:
    name: str = "adamw"  # adamw | adam | sgd
    lr: float = 1e-3
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0


@dataclass
class ScheduleConfig:
    """``cosine`` (linear warm-up, then cosine to ``min_lr_ratio * lr``), ``onecycle``, ``step``, ``constant``."""

    name: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    step_epochs: int = 10  # step: multiply by gamma every step_epochs
    gamma: float = 0.5
    pct_start: float = 0.3  # onecycle: fraction of steps rising to lr
    div_factor: float = 25.0  # onecycle: initial lr = lr / div_factor
    final_div_factor: float = 1e4  # onecycle: final lr = initial lr / final_div_factor


@dataclass
class TrainConfig:
    epochs: int = 10
    precision: str = "fp32"  # fp32 | bf16 | fp16 (fp16: CUDA only, with gradient scaling)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 0
    ema_decay: float | None = None  # e.g. 0.999: validate and save the exponential moving average
    compile: bool = False  # torch.compile the model
    eval_trajectories: int = 16  # validation trajectories rolled out after training
    eval_steps: int | None = None  # states those rollouts predict (default: to the last stored frame)
    checkpoint_every: int = 1  # epochs between 'last' checkpoints


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    #: the selected task's options (``training.tasks.options``); ``task.kind`` picks it
    task: Any = field(default_factory=lambda: options_class(DEFAULT_TASK)())
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        return _build(cls, data or {}, "")

    def check(self) -> None:
        """Raise InputError for values outside what the trainer supports (types are checked on reading)."""
        choices = {
            "optim.name": (self.optim.name, ("adamw", "adam", "sgd")),
            "schedule.name": (self.schedule.name, ("cosine", "onecycle", "step", "constant")),
            "train.precision": (self.train.precision, ("fp32", "bf16", "fp16")),
        }
        for key, (value, allowed) in choices.items():
            if value not in allowed:
                raise InputError(f"{key} = {_shown(value)} is not one of {', '.join(allowed)}")
        d, o, s, r = self.data, self.optim, self.schedule, self.train
        ranges = [
            # (key, value, lowest, highest, lowest allowed?, highest allowed?) for numbers; None = unbounded
            *(
                (k, v, 1, None, True, True)
                for k, v in (
                    ("data.history", d.history),
                    ("data.horizon", d.horizon),
                    ("data.stride", d.stride),
                    ("data.batch_size", d.batch_size),
                    ("data.samples", d.samples),
                    ("train.epochs", r.epochs),
                    ("train.checkpoint_every", r.checkpoint_every),
                    ("train.eval_trajectories", r.eval_trajectories),
                    ("train.eval_steps", r.eval_steps),
                    ("schedule.step_epochs", s.step_epochs),
                )
            ),
            *(
                (k, v, 0, None, True, True)
                for k, v in (
                    ("data.num_workers", d.num_workers),
                    ("data.seed", d.seed),
                    ("train.seed", r.seed),
                    ("data.first_frame", d.first_frame),
                    ("schedule.warmup_steps", s.warmup_steps),
                    ("optim.weight_decay", o.weight_decay),
                )
            ),
            *(
                (k, v, 0, None, False, True)
                for k, v in (
                    ("optim.lr", o.lr),
                    ("optim.grad_clip", o.grad_clip),
                    ("schedule.gamma", s.gamma),
                    ("schedule.div_factor", s.div_factor),
                    ("schedule.final_div_factor", s.final_div_factor),
                )
            ),
            ("schedule.min_lr_ratio", s.min_lr_ratio, 0, 1, True, True),
            ("schedule.pct_start", s.pct_start, 0, 1, False, False),
            ("train.ema_decay", r.ema_decay, 0, 1, False, False),
            *((f"optim.betas[{i}]", beta, 0, 1, True, False) for i, beta in enumerate(o.betas)),
        ]
        for key, value, low, high, low_ok, high_ok in ranges:
            _check_range(key, value, low, high, low_ok, high_ok)
        check_model_and_task(self.model.name, self.task.kind)
        self.task.check(self)


def _shown(value, limit: int = 80) -> str:
    """``repr(value)`` for an error message, cut at ``limit`` characters (a config file's value may be long)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_range(key: str, value, low, high, low_ok: bool, high_ok: bool) -> None:
    """``value`` (None passes: an optional setting left unset) must be finite and within the bounds."""
    if value is None:
        return
    inside = math.isfinite(value) and (value >= low if low_ok else value > low)
    if high is not None:
        inside = inside and (value <= high if high_ok else value < high)
    if not inside and isinstance(value, int) and high is None and low_ok:
        raise InputError(
            f"{key} must be a positive integer, got {_shown(value)}"
            if low == 1
            else f"{key} must be an integer >= {low}, got {_shown(value)}"
        )
    if not inside:
        left, right = "[" if low_ok else "(", "]" if high_ok else ")"
        bound = f"in {left}{low}, {high}{right}" if high is not None else (f">= {low}" if low_ok else f"> {low}")
        raise InputError(f"{key} must be a finite number {bound}, got {_shown(value)}")


def _build(cls, data: dict, prefix: str):
    if not isinstance(data, dict):
        raise InputError(f"config section '{prefix.rstrip('.') or 'root'}' must be a mapping, got {_shown(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = prefix.rstrip(".") or "the config"
        raise InputError(f"unknown config key '{prefix}{unknown[0]}'; valid keys in {where}: {', '.join(fields)}")
    values = {}
    for name, value in data.items():
        kind = fields[name].default_factory if fields[name].default_factory is not dataclasses.MISSING else None
        if cls is RunConfig and name == "task":
            task_kind = value.get("kind", DEFAULT_TASK) if isinstance(value, dict) else DEFAULT_TASK
            values[name] = _build(options_class(task_kind), value, "task.")
        elif dataclasses.is_dataclass(kind):
            values[name] = _build(kind, value, f"{prefix}{name}.")
        else:
            values[name] = _coerce(value, str(fields[name].type), f"{prefix}{name}")
    return cls(**values)


def _coerce(value, annotation: str, key: str):
    """Check ``value`` against a field's type annotation (a string such as ``int``, ``float | None``).

    YAML reads ``3e-4`` as a string (it wants ``3.0e-4``): a string that parses as a
    number is accepted where a float is expected, and an integer where a float is.
    """
    optional = "None" in annotation
    if value is None:
        if optional or annotation in ("Any", "dict"):
            return None
        raise InputError(f"{key} cannot be null")
    base = annotation.replace("| None", "").strip()
    if base == "bool":
        if not isinstance(value, bool):
            raise InputError(f"{key} expects true or false, got {_shown(value)}")
    elif base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{key} expects an integer, got {_shown(value)}")
    elif base == "float":
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise InputError(f"{key} expects a number, got {_shown(value)}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{key} expects a number, got {_shown(value)}")
        value = float(value)
    elif base == "str":
        if not isinstance(value, str):
            raise InputError(f"{key} expects a text value, got {_shown(value)}")
    elif base == "dict" and not isinstance(value, dict):
        raise InputError(f"{key} expects a mapping (e.g. {{width: 32}}), got {_shown(value)}")
    elif base == "list[str]":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{key} expects a list of text values (e.g. [a.h5, b.h5]), got {_shown(value)}")
        value = list(value)
    elif base.startswith("tuple[float"):
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        ):
            raise InputError(f"{key} expects a list of numbers, got {_shown(value)}")
        value = tuple(float(v) for v in value)
    return value


#: configs that ship with pdeop (published settings), usable by name: ``--config mgno-ns``
BUILTIN_CONFIGS = Path(__file__).resolve().parent / "configs"


def builtin_configs() -> list[str]:
    return sorted(p.stem for p in BUILTIN_CONFIGS.glob("*.yaml"))


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML config (a file, a built-in name, or the defaults) and apply ``key.sub=value`` overrides."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file() and (BUILTIN_CONFIGS / f"{path}.yaml").is_file():
            path = BUILTIN_CONFIGS / f"{path}.yaml"
        if not path.is_file():
            raise MissingFileError(f"no config file at {path} (built-in configs: {', '.join(builtin_configs())})")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise InputError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from error
        if not isinstance(data, dict):
            raise InputError(
                f"{path} must hold a YAML mapping of sections (data, model, task, optim, schedule, train), "
                f"got {type(data).__name__} {_shown(data)}"
            )
    for override in overrides or []:
        key, sep, text = override.partition("=")
        if not sep or not key:
            raise InputError(f"--set expects key=value (e.g. optim.lr=3e-4), got {override!r}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise InputError(f"cannot parse the value in --set {override!r}") from error
        *parents, leaf = key.strip().split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(f"--set {override!r}: '{part}' is not a section")
        node[leaf] = value
    config = RunConfig.from_dict(data)
    config.check()
    return config


def save_config(config: RunConfig, path: str | Path) -> None:
    data = config.to_dict()
    data["optim"]["betas"] = list(data["optim"]["betas"])
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
