"""The forecaster protocol: anything that predicts the next states from the latest ones.

Rollout evaluation, the bench and the leaderboard take forecasters, not predictor kinds. A
``Surrogate`` is one; so is an ``Observer`` (forecasting from its last state, with no observations)
and a first-frame ``Generator`` (the mean of ``members`` generated trajectories). A forecaster of your
own needs only these four members.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from solvers.errors import InputError


@runtime_checkable
class Forecaster(Protocol):
    """``predict(u0, steps)`` on pdeop's trajectory layout.

    Attributes:
        history: the states it reads: the last ``history`` of ``u0``.
        metadata: the training data's description (``dt``, ``grid``, ``field_names``, ``recipe`` ...).
        model: its networks, one ``torch.nn.Module`` (parameters are counted on it).
    """

    history: int
    metadata: dict
    model: torch.nn.Module

    def predict(
        self, u0: torch.Tensor, steps: int, precision: str | None = None, constant: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The ``steps`` states ``(batch, steps, channels, *grid)`` after ``u0`` ``(batch, history', channels,
        *grid)``, in physical units; ``precision`` and ``constant`` as ``Surrogate.predict``."""
        ...


def as_forecaster(predictor: object) -> Forecaster:
    """``predictor`` itself when it forecasts; an input error naming what it lacks otherwise."""
    if not isinstance(predictor, Forecaster):
        missing = [name for name in ("history", "metadata", "model", "predict") if not hasattr(predictor, name)]
        raise InputError(f"{type(predictor).__name__} does not forecast (it has no {', '.join(missing)})")
    return predictor


def refuse_surrogate_options(name: str, precision: str | None, constant: torch.Tensor | None) -> None:
    """For forecasters that run in fp32 and take no constant fields."""
    if precision not in (None, "fp32") or constant is not None:
        raise InputError(f"{name} forecasts in fp32 without constant inputs")
