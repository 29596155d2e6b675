"""Each task's configuration fields (the run config's ``task`` section), readable without torch.

A task's ``Options`` is a dataclass with ``kind`` first; ``training.config`` builds it from YAML and
calls its ``check``. The built-in tasks' options live here, apart from the tasks themselves (which
need torch), so that reading and checking a run config loads neither torch nor every task: only the
observer's and latent diffusion's checks import what they validate against (the observation model,
the noise schedule). A task defined elsewhere registers its options with ``register_task``
(``training.tasks.base``), which calls ``register_options``.

``models`` (a class attribute) names the architectures a task alone trains: an observer or a
generator is not a next-step surrogate, and each of them trains only under its own task.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from solvers.errors import InputError

if TYPE_CHECKING:
    from training.config import RunConfig

#: the task a config without ``task.kind`` trains
DEFAULT_TASK = "next-step"

_OPTIONS: dict[str, type[TaskOptions]] = {}


def register_options(cls: type[TaskOptions]) -> type[TaskOptions]:
    """Class decorator: make ``cls`` the options of ``task.kind = cls.kind`` (its default)."""
    if not dataclasses.is_dataclass(cls) or "kind" not in {f.name for f in dataclasses.fields(cls)}:
        raise TypeError(f"{cls.__name__} must be a dataclass with a 'kind' field")
    kind = cls.kind
    if not kind:
        raise TypeError(f"{cls.__name__}.kind needs a default: the task kind it configures")
    if kind in _OPTIONS and _OPTIONS[kind] is not cls:
        raise ValueError(f"task kind {kind!r} is registered twice")
    _OPTIONS[kind] = cls
    return cls


def task_kinds() -> list[str]:
    """The task kinds a config may name."""
    return sorted(_OPTIONS)


def options_class(kind: str) -> type[TaskOptions]:
    """The options dataclass of ``task.kind = kind``; InputError naming the known kinds otherwise."""
    if kind not in _OPTIONS:
        raise InputError(f"task.kind = {kind!r} is not a registered task; known: {', '.join(task_kinds())}")
    return _OPTIONS[kind]


def check_model_and_task(model: str, kind: str) -> None:
    """InputError unless architecture ``model`` trains under ``task.kind = kind``: a task with its own
    ``models`` trains only those, and each of them only under it (an observer or a generator is not a
    next-step surrogate, whose default task would otherwise fail deep inside with a confusing message)."""
    own = options_class(kind).models
    if own and model not in own:
        raise InputError(f"task.kind = {kind} trains model.name = {' or '.join(own)}, not {model}")
    for other_kind, other in _OPTIONS.items():
        if model in other.models and other_kind != kind:
            raise InputError(
                f"model.name = {model} trains with task.kind = {other_kind} (--set task.kind={other_kind}), not {kind}"
            )


@dataclass
class TaskOptions:
    """Base of every task's options."""

    kind: str = ""
    #: the architectures this task alone trains (empty: any that the task's data fits)
    models: ClassVar[tuple[str, ...]] = ()
    #: the module defining the task, imported when the task is first asked for (None: already imported
    #: with these options, as a task defined outside the package is)
    task_module: ClassVar[str | None] = None

    def check(self, config: RunConfig) -> None:
        """Raise InputError for option values (or combinations with other sections) the task refuses."""


def _check_positive_integer(name: str, value, lowest: int = 1, what: str = "a positive integer") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise InputError(f"task.{name} must be {what}, got {value!r}")


def _check_choice(name: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"task.{name} must be one of {', '.join(allowed)}, got {value!r}")


#: losses of the surrogate tasks
SURROGATE_LOSSES = ("relative-l2", "relative-h1", "hs", "mse")


@dataclass
class SurrogateOptions(TaskOptions):
    """``loss``: ``relative-l2`` (physical units, per sample and channel, averaged), ``relative-h1``
    (ours: adds the gradient with physical wavenumbers), ``hs`` (the FNO/MgNO papers' HsLoss with
    weight ``hs_a``; ``training.evaluation.metrics.hs_loss``) or ``mse`` (normalised units)."""

    loss: str = "relative-l2"
    hs_a: float = 1.0

    def check(self, config: RunConfig) -> None:
        _check_choice("loss", self.loss, SURROGATE_LOSSES)
        if not (self.hs_a >= 0 and self.hs_a < float("inf")):
            raise InputError(f"task.hs_a must be a finite number >= 0, got {self.hs_a!r}")


@register_options
@dataclass
class NextStepOptions(SurrogateOptions):
    """``residual``: the model predicts the change from the last input state (an untrained
    model starts as the persistence baseline). ``rollout_steps`` > 1 trains on multi-step
    rollouts (backpropagating through all steps, or only the last with ``pushforward``).
    ``loss``: as ``SurrogateOptions``."""

    kind: str = "next-step"
    task_module: ClassVar[str | None] = "training.tasks.next_step"
    residual: bool = True
    rollout_steps: int = 1
    pushforward: bool = False

    def check(self, config: RunConfig) -> None:
        super().check(config)
        _check_positive_integer("rollout_steps", self.rollout_steps)


@register_options
@dataclass
class OperatorOptions(SurrogateOptions):
    """``target_frame``: the stored frame the operator maps to (default -1, the last).
    ``residual``: predict ``u(T) - u(0)`` (off by default, as in FNO)."""

    kind: str = "operator"
    task_module: ClassVar[str | None] = "training.tasks.operator"
    target_frame: int = -1
    residual: bool = False

    def check(self, config: RunConfig) -> None:
        super().check(config)
        if isinstance(self.target_frame, bool) or not isinstance(self.target_frame, int):
            raise InputError(f"task.target_frame must be an integer frame index, got {self.target_frame!r}")
        if (config.data.history, config.data.horizon) != (1, 1):
            raise InputError(
                "task.kind = operator maps the first frame to the last (or task.target_frame): "
                "use data.history 1 and data.horizon 1"
            )


#: the physics task's losses
PHYSICS_LOSSES = ("residual", "data", "mixed")
PHYSICS_SCHEMES = ("exponential", "crank-nicolson")


@register_options
@dataclass
class PhysicsOptions(TaskOptions):
    """See ``training.tasks.physics``. ``horizon``: states per model call (a stagger's ``time``)."""

    kind: str = "physics"
    task_module: ClassVar[str | None] = "training.tasks.physics"
    unroll: int = 4
    curriculum_epochs: int = 5
    loss: str = "residual"
    data_weight: float = 1.0
    replay: int = 0
    horizon: int = 1
    scheme: str = "exponential"

    def check(self, config: RunConfig) -> None:
        for name in ("unroll", "curriculum_epochs", "horizon"):
            _check_positive_integer(name, getattr(self, name))
        _check_positive_integer("replay", self.replay, 0, "an integer >= 0 (states kept)")
        _check_choice("scheme", self.scheme, PHYSICS_SCHEMES)
        _check_choice("loss", self.loss, PHYSICS_LOSSES)
        if not self.data_weight >= 0:
            raise InputError(f"task.data_weight must be >= 0, got {self.data_weight!r}")


#: where the observer starts, and which windows an epoch holds
OBSERVER_INITIAL = ("mean", "truth")
OBSERVER_WINDOWS = ("all", "random")


@register_options
@dataclass
class ObserverOptions(TaskOptions):
    """See ``training.tasks.assimilation``; the observation options are ``pde_data.ObservationModel``'s."""

    kind: str = "observer"
    task_module: ClassVar[str | None] = "training.tasks.assimilation"
    models: ClassVar[tuple[str, ...]] = ("semilinear-observer",)
    warmup: int = 8
    horizon: int = 8
    sensors: float = 0.1
    layout: str = "random-per-trajectory"
    noise: float = 0.05
    noise_kind: str = "relative"
    every: int = 1
    measurement_weight: float = 0.1
    initial: str = "mean"
    windows: str = "all"

    def check(self, config: RunConfig) -> None:
        _check_positive_integer("warmup", self.warmup, 1, "a positive number of frames")
        _check_positive_integer("horizon", self.horizon, 0, "an integer >= 0")
        if not self.measurement_weight >= 0:
            raise InputError(f"task.measurement_weight must be >= 0, got {self.measurement_weight!r}")
        _check_choice("initial", self.initial, OBSERVER_INITIAL)
        _check_choice("windows", self.windows, OBSERVER_WINDOWS)
        if self.layout == "random":
            from pde_data.observations import LAYOUTS

            raise InputError(f"task.layout: training draws sensors per trajectory; use one of {LAYOUTS[1:]}")
        self.observation_model()  # checks the observation options

    def observation_model(self, seed: int = 0):
        """The ``pde_data.ObservationModel`` these options describe (sensors drawn per trajectory)."""
        from pde_data.observations import ObservationModel

        return ObservationModel(self.sensors, self.layout, self.noise, self.noise_kind, self.every, None, seed)


#: the autoencoder's reconstruction losses
RECONSTRUCTIONS = ("relative-l1", "l1")


@register_options
@dataclass
class AutoencoderOptions(TaskOptions):
    """Text2PDE's first stage: ``kl_weight`` on the latent's KL term, the ``reconstruction`` loss, and
    ``frames``: the first ``frames`` stored frames (default all)."""

    kind: str = "autoencoder"
    task_module: ClassVar[str | None] = "training.tasks.autoencoder"
    models: ClassVar[tuple[str, ...]] = ("trajectory-autoencoder",)
    kl_weight: float = 1e-7
    reconstruction: str = "relative-l1"
    frames: int | None = None

    def check(self, config: RunConfig) -> None:
        _check_choice("reconstruction", self.reconstruction, RECONSTRUCTIONS)
        if not (0 <= self.kl_weight < float("inf")):
            raise InputError(f"task.kl_weight must be a finite number >= 0, got {self.kl_weight!r}")
        if self.frames is not None:
            _check_positive_integer("frames", self.frames, 1, "a positive integer or null")


@register_options
@dataclass
class LatentDiffusionOptions(TaskOptions):
    """Text2PDE's second stage (see ``training.tasks.latent_diffusion``)."""

    kind: str = "latent-diffusion"
    task_module: ClassVar[str | None] = "training.tasks.latent_diffusion"
    models: ClassVar[tuple[str, ...]] = ("latent-dit",)
    autoencoder: str = ""  # a run directory or checkpoint of the autoencoder task (required)
    condition: str = "text"  # text | first-frame
    condition_dropout: float = 0.1
    timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    scale_factor: float | None = None  # default: 1 / std of the training latents
    eval_samples: int = 4
    eval_steps: int = 50
    guidance: float = 1.0

    def check(self, config: RunConfig) -> None:
        from operators.layers.diffusion import NoiseSchedule
        from operators.models.dit import CONDITIONS

        if not self.autoencoder:
            raise InputError(
                "task.autoencoder must name a trained autoencoder run (pdeop train --config "
                "text2pde-autoencoder, or --model trajectory-autoencoder --set task.kind=autoencoder)"
            )
        _check_choice("condition", self.condition, CONDITIONS)
        if not 0.0 <= self.condition_dropout < 1.0:
            raise InputError(f"task.condition_dropout must lie in [0, 1), got {self.condition_dropout!r}")
        if self.scale_factor is not None and not self.scale_factor > 0:
            raise InputError(f"task.scale_factor must be > 0 or null, got {self.scale_factor!r}")
        NoiseSchedule(self.timesteps, self.beta_start, self.beta_end)  # checks its own values
