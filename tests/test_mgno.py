"""MgNO: shapes, paddings, the V-cycle as a linear, translation-equivariant operator, training, checkpoints."""

from __future__ import annotations

import json
import math

import pytest
import torch

import operators
import pde_data
from operators.models.mgno import MultigridConv
from training.config import load_config
from training.evaluation.metrics import relative_h1


@pytest.mark.parametrize("padding", ["circular", "zeros", "reflect"])
@pytest.mark.parametrize(("ndim", "size"), [(1, 64), (2, 32), (1, 48), (2, 24)])
def test_shapes_for_every_padding(padding, ndim, size):
    model = operators.build(
        "mgno", in_channels=3, out_channels=2, ndim=ndim, channels=8, layers=2, levels=3, padding=padding
    )
    assert model(torch.randn(2, 3, *(size,) * ndim)).shape == (2, 2, *(size,) * ndim)


@pytest.mark.parametrize("padding", ["zeros", "reflect"])
@pytest.mark.parametrize(("ndim", "size"), [(1, 45), (2, 33), (2, 17)])
def test_odd_sizes_with_non_periodic_padding(padding, ndim, size):
    model = operators.build(
        "mgno", in_channels=1, out_channels=1, ndim=ndim, channels=4, layers=1, levels=4, padding=padding
    )
    assert model(torch.randn(1, 1, *(size,) * ndim)).shape == (1, 1, *(size,) * ndim)


def test_sizes_that_cannot_be_coarsened_are_refused():
    circular = operators.build("mgno", in_channels=1, out_channels=1, ndim=2, channels=4, layers=1, levels=4)
    with pytest.raises(ValueError, match="use a multiple of 8 or fewer levels"):
        circular(torch.randn(1, 1, 36, 36))
    zeros = operators.build(
        "mgno", in_channels=1, out_channels=1, ndim=1, channels=4, layers=1, levels=5, padding="zeros"
    )
    with pytest.raises(ValueError, match="too small for 5 levels"):
        zeros(torch.randn(1, 1, 12))
    with pytest.raises(ValueError, match="padding must be one of"):
        operators.build("mgno", in_channels=1, out_channels=1, ndim=1, padding="mirror")


@pytest.mark.parametrize("ndim", [1, 2])
def test_the_v_cycle_is_linear(ndim):
    torch.manual_seed(0)
    cycle = MultigridConv(3, 5, levels=3, ndim=ndim, padding="circular").double()
    f, g = torch.randn(2, 2, 3, *(16,) * ndim, dtype=torch.float64)
    assert torch.allclose(cycle(2.5 * f - 0.7 * g), 2.5 * cycle(f) - 0.7 * cycle(g), atol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2])
def test_circular_v_cycle_is_equivariant_to_shifts_by_the_coarsest_cell(ndim):
    torch.manual_seed(1)
    levels = 4
    cycle = MultigridConv(2, 4, levels=levels, ndim=ndim, padding="circular", wrap_prolongation=True).double()
    f = torch.randn(1, 2, *(32,) * ndim, dtype=torch.float64)
    axes = tuple(range(-ndim, 0))
    shift = 2 ** (levels - 1)
    shifted = cycle(torch.roll(f, (shift,) * ndim, axes))
    assert torch.allclose(shifted, torch.roll(cycle(f), (shift,) * ndim, axes), atol=1e-12)
    # a one-point shift is not a symmetry of the stride-2 hierarchy (so the check above can fail)
    assert not torch.allclose(
        cycle(torch.roll(f, (1,) * ndim, axes)), torch.roll(cycle(f), (1,) * ndim, axes), atol=1e-6
    )


def test_gradients_reach_every_parameter():
    model = operators.build(
        "mgno",
        in_channels=1,
        out_channels=1,
        ndim=2,
        channels=4,
        layers=2,
        levels=3,
        norm="layer",
        residual=True,
        grid_size=16,
        pointwise=True,
        restrict_residual=True,
    )
    model(torch.randn(2, 1, 16, 16)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_relative_h1_matches_a_hand_computed_case():
    x = torch.arange(64) * (2 * math.pi / 64)
    target = torch.sin(3 * x).reshape(1, 1, 64)
    prediction = target + 0.1 * torch.sin(5 * x).reshape(1, 1, 64)
    # ||e||^2 / ||u||^2 = 0.01 (1 + 25) / (1 + 9) on [0, 2 pi)
    expected = math.sqrt(0.01 * 26 / 10)
    assert relative_h1(prediction, target, ndim=1, length=2 * math.pi).item() == pytest.approx(expected, rel=1e-5)


@pytest.fixture(scope="module")
def burgers_data(tmp_path_factory):
    return pde_data.generate("burgers-fno-tiny", tmp_path_factory.mktemp("b") / "burgers.h5", 20, progress=False)


def test_mgno_trains_through_pdeop_train_and_round_trips(burgers_data, tmp_path, capsys):
    from training.cli import main

    status = main(
        [
            "train",
            "--data",
            str(burgers_data),
            "--model",
            "mgno",
            "--epochs",
            "10",
            "--out",
            str(tmp_path / "run"),
            "--device",
            "cpu",
            "--quiet",
            "--set",
            "model.hyperparameters={channels: 16, layers: 3, levels: 4}",
            "--set",
            "optim.lr=3.0e-3",
            "--set",
            "train.eval_trajectories=4",
        ]
    )
    assert status == 0
    report = json.loads((tmp_path / "run" / "evaluation" / "evaluation.json").read_text())
    model, baseline = report["model"]["summary"], report["persistence"]["summary"]
    assert model["relative_l2_rollout"] < 0.5 * baseline["relative_l2_rollout"]
    loaded = operators.Surrogate.load(tmp_path / "run")
    again = operators.Surrogate.load(loaded.save(tmp_path / "copy.pt"))
    u0 = torch.randn(2, 1, 1, 64)
    assert loaded.model.pdeop_spec["name"] == "mgno" and torch.equal(again.predict(u0, 3), loaded.predict(u0, 3))


def test_published_configs_load():
    ns = load_config("mgno-ns")
    assert ns.model.hyperparameters == {
        "channels": 32,
        "layers": 5,
        "levels": 5,
        "padding": "circular",
        "norm": "layer",
        "residual": True,
    }
    protocol = (
        ns.task.rollout_steps,
        ns.data.batch_size,
        ns.data.first_frame,
        ns.schedule.pct_start,
        ns.schedule.final_div_factor,
        ns.optim.weight_decay,
        ns.train.eval_steps,
    )
    assert protocol == (1, 500, 1, 0.1, 50.0, 1e-5 / 500, 10)
    burgers = load_config("mgno-burgers")
    assert burgers.task.kind == "operator" and burgers.model.name == "mgno"
    model = operators.build("mgno", in_channels=1, out_channels=1, ndim=2, grid_size=64, **ns.model.hyperparameters)
    assert model(torch.randn(1, 1, 64, 64)).shape == (1, 1, 64, 64)


def test_periodic_coordinate_channels():
    from operators.layers.embedding import PeriodicCoordinates

    x = torch.zeros(2, 3, 8, 4)
    out = PeriodicCoordinates(2)(x)
    assert out.shape == (2, 7, 8, 4)
    assert torch.allclose(out[0, 3, :, 0], torch.sin(2 * math.pi * torch.arange(8) / 8))
    assert torch.allclose(out[0, 6, 0, :], torch.cos(2 * math.pi * torch.arange(4) / 4))
    model = operators.build(
        "mgno", in_channels=1, out_channels=1, ndim=1, channels=4, layers=1, levels=2, coordinates=True, residual=True
    )
    assert model(torch.randn(2, 1, 16)).shape == (2, 1, 16)


def test_the_published_ns_model_has_the_public_architecture():
    """MgNO_NS (xlliu2017/MgNO models.py) with 5 layers of 32 channels, 5 levels, the schedule
    [[1,0],[1,0],[1,0],[2,0],[2,0]], biased 3x3 smoothers, bias-free restrictions and prolongations,
    LayerNorm([32, 64/2^l, 64/2^l]) per level but the coarsest and a bias-free head: counted by hand,
    per layer (C_f = 32): 13 smoothers x 9,248 + 8 restrictions x 9,216 + 4 prolongations x 16,384
    + LayerNorms 2 x 32 x 5,440 = 607,648; the first layer (C_f = 1) 454,570; head 32."""
    model = operators.build(
        "mgno",
        in_channels=1,
        out_channels=1,
        ndim=2,
        channels=32,
        layers=5,
        levels=5,
        norm="layer",
        residual=True,
        grid_size=64,
    )
    assert operators.parameter_count(model) == 4 * 607_648 + 454_570 + 32 == 2_885_194
    norms = [m for m in model.multigrid[0].modules() if isinstance(m, torch.nn.LayerNorm)]
    assert [tuple(m.normalized_shape) for m in norms] == [(32, 64, 64), (32, 32, 32), (32, 16, 16), (32, 8, 8)]
    assert norms[0].weight.shape == (32, 64, 64)  # a scale and shift per grid point, as published
    assert model.pointwise is None and model.head.bias is None
    with pytest.raises(ValueError, match="norm='layer' is tied to the training grid"):
        operators.build("mgno", in_channels=1, out_channels=1, ndim=2, norm="layer")


def test_the_published_prolongation_does_not_wrap_round():
    from operators.models.mgno import Prolongation

    coarse = torch.zeros(1, 1, 8)
    coarse[0, 0, -1] = 1.0  # an impulse at the last coarse point spreads to fine points 13..15 (and 16)
    for wrap, reaches_zero in ((False, False), (True, True)):
        prolong = Prolongation(1, 1, wrap)
        torch.nn.init.ones_(prolong.conv.weight)
        fine = prolong(coarse, (16,))
        assert bool(fine[0, 0, 0] != 0) == reaches_zero and bool(fine[0, 0, -1] != 0)
