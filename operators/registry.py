"""The architecture registry: ``build(name, **hyperparameters)`` and ``available()``.

An architecture joins by decorating its builder in its own module with
``@register("name", bench=BenchSetup(...))`` and being imported in ``operators/models/__init__.py``
(an architecture from outside the package: by being imported before use). ``bench`` is how
``pdeop bench`` trains it at the small tiers, declared beside the model so that adding one is one
edit; a model that is a part of another says why it has no row of its own instead. Builders
take keyword hyperparameters only; ``build`` rejects unknown ones with the list
of accepted names, so configs fail early and clearly.

An architecture that works on any grid of the same dimension (FNO: its weights
act on Fourier modes, not grid points) registers with ``resolution_agnostic=True``;
the built module then carries ``pdeop_resolution_agnostic = True`` and
``Surrogate.predict`` accepts other grids for it. So does a module that a builder
option converted (``resolution_consistent = True``, ``operators.layers.resolution``).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from solvers.errors import InputError

_BUILDERS: dict[str, Callable[..., torch.nn.Module]] = {}
_RESOLUTION_AGNOSTIC: set[str] = set()
_BENCH: dict[str, BenchSetup | str] = {}


@dataclass(frozen=True)
class BenchSetup:
    """How ``pdeop bench`` trains a model at its small tiers (``tiny`` halves the widths of ``cpu-small``).

    Plain data, so that a model declares it without knowing the trainer: the training task's name,
    the ``cpu-small`` hyperparameters, the hyperparameter that sets its width (what ``--budget
    parameters`` tunes; ``None``: fixed), the shipped config per suite for the ``paper`` tier
    (``"*"``: any suite), the task's options, and a first stage trained before the model (its
    ``model``, ``task``, ``shipped`` config, ``small`` hyperparameters and ``lr``).
    """

    task: str = "next-step"
    small: dict = dataclasses.field(default_factory=dict)
    width_key: str | None = "width"
    shipped: dict = dataclasses.field(default_factory=dict)
    task_options: dict = dataclasses.field(default_factory=dict)
    stage: dict | None = None


def register(name: str, resolution_agnostic: bool = False, bench: BenchSetup | str | None = None) -> Callable:
    """Decorator: register ``builder(**hyperparameters) -> nn.Module`` under ``name``.

    ``bench``: the model's ``BenchSetup``, or a sentence saying why it has no bench row (it is a part
    of another model); ``None``: not benched.
    """

    def decorate(builder: Callable[..., torch.nn.Module]) -> Callable[..., torch.nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"architecture {name!r} is registered twice")  # a programming error, not input
        _BUILDERS[name] = builder
        if resolution_agnostic:
            _RESOLUTION_AGNOSTIC.add(name)
        if bench is not None:
            _BENCH[name] = bench
        return builder

    return decorate


def bench_setup(name: str) -> BenchSetup | str | None:
    """``name``'s bench setup, the reason it has none (text), or ``None`` when it declared neither."""
    _builder(name)  # an unknown name is an input error with the list of names
    return _BENCH.get(name)


def extend_builder(
    builder: Callable[..., torch.nn.Module],
    extra: dict[str, tuple[str, object]],
    finish: Callable[[dict, dict], torch.nn.Module],
    doc: str,
) -> Callable[..., torch.nn.Module]:
    """A builder with ``builder``'s hyperparameters plus ``extra`` (``{name: (annotation, default)}``,
    ``inspect.Parameter.empty`` for a required one), built by ``finish(base_options, extra_options)``.

    For variants of an architecture (``unet-no`` is ``unet`` converted): the variant's signature,
    which ``build`` validates against, is the base one extended, not a copy of it.
    """
    base = inspect.signature(builder)
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, (annotation, default) in extra.items()
    ]

    def variant(**options) -> torch.nn.Module:
        extras = {name: options.pop(name, default) for name, (_, default) in extra.items()}
        base_options = {k: p.default for k, p in base.parameters.items() if p.default is not inspect.Parameter.empty}
        return finish(base_options | options, extras)

    variant.__signature__ = base.replace(parameters=[*base.parameters.values(), *added])
    variant.__doc__ = doc
    return variant


def build_nested(spec: dict, in_channels: int, out_channels: int, wrapper: str, **derived) -> torch.nn.Module:
    """The inner model of wrapper ``wrapper`` from its plain spec ``{name, hyperparameters}``.

    ``derived`` (``ndim``, ``grid_size``, ...) fills the hyperparameters the inner builder
    accepts and the spec leaves out (``None`` values are skipped); a wrapper inside itself is refused.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise InputError(f"{wrapper}: an inner model is {{name: ..., hyperparameters: {{...}}}}, got {spec!r}")
    if spec["name"] == wrapper:
        raise InputError(f"a {wrapper}'s inner model cannot itself be a {wrapper}")
    hyper = dict(spec.get("hyperparameters") or {})
    accepted = hyperparameter_names(spec["name"])
    hyper.update({k: v for k, v in derived.items() if k in accepted and k not in hyper and v is not None})
    return build(spec["name"], in_channels=in_channels, out_channels=out_channels, **hyper)


def available() -> list[str]:
    """Names of the registered architectures."""
    return sorted(_BUILDERS)


def hyperparameter_names(name: str) -> list[str]:
    """The keyword hyperparameters the builder of ``name`` accepts."""
    return list(inspect.signature(_builder(name)).parameters)


def _builder(name: str) -> Callable[..., torch.nn.Module]:
    if name not in _BUILDERS:
        raise InputError(f"unknown architecture {name!r}; available: {', '.join(available())}")
    return _BUILDERS[name]


def build(name: str, **hyperparameters) -> torch.nn.Module:
    """Build architecture ``name``; the module records ``name`` and its hyperparameters for checkpoints.

    The model maps ``(batch, in_channels, *grid)`` to ``(batch, out_channels, *grid)``.
    """
    builder = _builder(name)
    accepted = inspect.signature(builder).parameters
    unknown = sorted(set(hyperparameters) - set(accepted))
    if unknown:
        raise InputError(f"{name} does not take {unknown}; its hyperparameters are: {', '.join(accepted)}")
    missing = [
        p for p, spec in accepted.items() if spec.default is inspect.Parameter.empty and p not in hyperparameters
    ]
    if missing:
        raise InputError(f"{name} needs hyperparameters {missing}")
    for key, value in hyperparameters.items():
        _check_hyperparameter(name, key, value, accepted[key])
    try:
        model = builder(**hyperparameters)
    except (ValueError, TypeError, RuntimeError) as error:  # the builders' (and torch's) checks of the values
        raise InputError(f"{name}: {error}") from error
    model.pdeop_spec = {"name": name, "hyperparameters": dict(hyperparameters)}
    # a builder option can make a grid-tied architecture consistent (operators.layers.resolution)
    model.pdeop_resolution_agnostic = name in _RESOLUTION_AGNOSTIC or bool(
        getattr(model, "resolution_consistent", False)
    )
    return model


def _check_hyperparameter(name: str, key: str, value, parameter: inspect.Parameter) -> None:
    """Sizes are positive integers, ratios finite numbers >= 0, switches booleans, choices text.

    The kind comes from the builder's default, or (default ``None`` or none) from its annotation;
    other kinds (lists, nested specs) are the builder's to check.
    """
    default = parameter.default
    if default is None and value is None:
        return
    if default is inspect.Parameter.empty or default is None:
        annotation = str(parameter.annotation)
        reference = 1 if annotation.startswith("int") else 1.0 if annotation.startswith("float") else None
    else:
        reference = default
    if isinstance(reference, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(reference, int):
        ok, expected = isinstance(value, int) and not isinstance(value, bool) and value >= 1, "a positive integer"
    elif isinstance(reference, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
        expected = "a finite number >= 0"
    elif isinstance(reference, str):
        ok, expected = isinstance(value, str), "text"
    else:
        return
    if not ok:
        raise InputError(f"{name}: hyperparameter {key} must be {expected}, got {value!r}")


def parameter_count(model: torch.nn.Module) -> int:
    """Trainable real numbers: a complex weight (a spectral convolution's) counts twice, as papers count it."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters() if p.requires_grad)
