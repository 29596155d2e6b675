"""Shared test helpers."""

from __future__ import annotations

import itertools
import math

import pytest
import torch


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """``||a - b|| / ||b||`` over everything."""
    return float((a - b).norm() / b.norm())


def observed_orders(errors: list[float]) -> list[float]:
    """Convergence orders ``log2(e_i / e_{i+1})`` for step sizes halved each time."""
    return [math.log2(a / b) for a, b in itertools.pairwise(errors)]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
