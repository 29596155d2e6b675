"""SineNet: shapes, periodicity, the published parameter counts, K = 1 as one U-Net, training, checkpoints."""

from __future__ import annotations

import json

import pytest
import torch

import operators
import pde_data
from operators.models.sinenet import SineNet, Wave, param_match, parameter_count

PUBLISHED = {8: 1.425, 6: 1.5, 4: 1.611, 2: 1.8075}  # hidden 64, INS: 4 frames x 3 fields in, 3 out


def small(**changes):
    settings = dict(in_channels=2, out_channels=1, hidden=8, waves=2, mult=1.5, padding="circular") | changes
    return operators.build("sinenet", **settings)


@pytest.mark.parametrize("padding", ["circular", "zeros"])
def test_shapes(padding):
    assert small(padding=padding)(torch.randn(3, 2, 32, 48)).shape == (3, 1, 32, 48)


def test_grids_not_divisible_by_16_are_refused():
    with pytest.raises(ValueError, match="divisible by 16"):
        small()(torch.randn(1, 2, 40, 32))
    with pytest.raises(ValueError, match="2D only"):
        operators.build("sinenet", in_channels=1, out_channels=1, ndim=1)


def test_circular_sinenet_commutes_with_shifts_by_the_coarsest_cell():
    torch.manual_seed(0)
    model = small().double().eval()
    x = torch.randn(1, 2, 32, 32, dtype=torch.float64)
    shifted = model(torch.roll(x, (16, 32 - 16), (-2, -1)))
    assert torch.allclose(shifted, torch.roll(model(x), (16, 16), (-2, -1)), atol=1e-10)
    zero = small(padding="zeros").double().eval()
    zero.load_state_dict(model.state_dict())
    assert not torch.allclose(
        zero(torch.roll(x, (16, 16), (-2, -1))), torch.roll(zero(x), (16, 16), (-2, -1)), atol=1e-4
    )


def test_published_parameter_count_is_reproduced_exactly():
    model = operators.build("sinenet", in_channels=12, out_channels=3, hidden=64, waves=8, mult=1.425)
    assert sum(p.numel() for p in model.parameters()) == 35_490_219
    for waves, mult in ((1, 1.3), (3, 2.0)):
        built = SineNet(5, 2, 16, waves, mult, "zeros")
        assert parameter_count(5, 2, 16, waves, mult) == sum(p.numel() for p in built.parameters())


def test_param_match_reproduces_the_published_family():
    for waves, mult in PUBLISHED.items():
        assert abs(param_match(35_490_219, waves, 12, 3) - mult) <= 0.001
        assert abs(parameter_count(12, 3, 64, waves, mult) - 35_490_219) < 0.001 * 35_490_219


def test_one_wave_is_a_single_unet_between_lift_and_head():
    torch.manual_seed(0)
    model = small(waves=1).eval()
    x = torch.randn(2, 2, 32, 32)
    lifted = model.lift(x)
    unet = model.waves[0]
    assert isinstance(unet, Wave)
    assert torch.allclose(model(x), model.head(lifted + unet(lifted)), atol=1e-6)
    assert len(unet.down) == 4 and len(unet.up) == 4


@pytest.mark.slow
def test_sinenet_trains_through_pdeop_train_and_round_trips(tmp_path):
    from training.cli import main

    data = pde_data.generate("ns-fno-1e-3-tiny", tmp_path / "ns.h5", 24, progress=False)
    status = main(
        [
            "train",
            "--data",
            str(data),
            "--model",
            "sinenet",
            "--epochs",
            "8",
            "--out",
            str(tmp_path / "run"),
            "--device",
            "cpu",
            "--quiet",
            "--set",
            "model.hyperparameters={hidden: 8, waves: 2, mult: 1.5, coordinates: true}",
            "--set",
            "optim.lr=2.0e-3",
            "--set",
            "data.batch_size=8",
            "--set",
            "train.eval_trajectories=3",
        ]
    )
    assert status == 0
    report = json.loads((tmp_path / "run" / "evaluation" / "evaluation.json").read_text())
    assert (
        report["model"]["summary"]["relative_l2_rollout"]
        < 0.5 * report["persistence"]["summary"]["relative_l2_rollout"]
    )
    loaded = operators.Surrogate.load(tmp_path / "run")
    again = operators.Surrogate.load(loaded.save(tmp_path / "copy.pt"))
    u0 = torch.randn(2, 1, 1, 32, 32)
    assert loaded.model.pdeop_spec["name"] == "sinenet" and torch.equal(again.predict(u0, 2), loaded.predict(u0, 2))


def test_coordinate_channels_break_translation_symmetry_on_purpose():
    torch.manual_seed(0)
    model = small(coordinates=True).double().eval()
    x = torch.randn(1, 2, 32, 32, dtype=torch.float64)
    assert model(x).shape == (1, 1, 32, 32)
    assert not torch.allclose(
        model(torch.roll(x, (16, 16), (-2, -1))), torch.roll(model(x), (16, 16), (-2, -1)), atol=1e-6
    )
