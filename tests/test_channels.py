"""Multi-field data through the whole stack, and what a split means."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

import operators
import pde_data
from pde_data.fields import Channel, channels_of, from_channels, to_channels
from training.cli import main
from training.config import load_config
from training.evaluation.metrics import relative_l2
from training.run import train


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    """Navier-Stokes vorticity plus the velocity derived from it: 3 channels."""
    path = tmp_path_factory.mktemp("flow") / "flow.h5"
    return pde_data.generate("ns-fno-1e-3-tiny", path, 10, extra_fields=["velocity"], progress=False)


def test_the_layout_convention_round_trips():
    channels = channels_of({"vorticity": 0, "velocity": 2, "density": 0})
    assert [c.name for c in channels] == ["vorticity", "density", "velocity_x", "velocity_y"]  # t0 first, then t1
    rng = np.random.default_rng(0)
    fields = {
        "vorticity": rng.random((2, 3, 8, 8)),
        "density": rng.random((2, 3, 8, 8)),
        "velocity": rng.random((2, 3, 8, 8, 2)),
    }
    stacked = to_channels(fields, channels)
    assert stacked.shape == (2, 3, 4, 8, 8) and np.array_equal(stacked[:, :, 3], fields["velocity"][..., 1])
    back = from_channels(stacked, channels)
    assert all(np.array_equal(back[name], fields[name]) for name in fields)
    assert Channel("velocity", 1).group == "t1_fields"


def test_a_file_with_a_vector_field_loads_as_channels_with_per_channel_statistics(flow):
    with h5py.File(flow, "r") as f:
        vorticity = f["t0_fields/vorticity"][()].astype(np.float64)
        velocity = f["t1_fields/velocity"][()].astype(np.float64)
        assert list(f["t1_fields"].attrs["field_names"]) == ["velocity"]
    windows = pde_data.TrajectoryDataset(flow, history=2, split=None)
    assert windows.channels == 3 and windows.channel_names == ["vorticity", "velocity_x", "velocity_y"]
    item = windows[0]
    assert item["input"].shape == (2, 3, 32, 32)
    assert torch.equal(item["input"][:, 1], torch.from_numpy(velocity[0, :2, ..., 0]).float())
    expected_mean = [vorticity.mean(), velocity[..., 0].mean(), velocity[..., 1].mean()]
    expected_std = [vorticity.std(), velocity[..., 0].std(), velocity[..., 1].std()]
    assert torch.allclose(windows.statistics["mean"].double(), torch.tensor(expected_mean), atol=1e-6)
    assert torch.allclose(windows.statistics["std"].double(), torch.tensor(expected_std), rtol=1e-5)
    # the velocity is the solver's: divergence-free, so its spectral divergence vanishes
    k = torch.fft.fftfreq(32, d=1 / 32, dtype=torch.float64) * 2 * torch.pi
    v = torch.from_numpy(velocity[0, 2])
    divergence = k[:, None] * torch.fft.fft2(v[..., 0]) + k[None, :] * torch.fft.fft2(v[..., 1])
    assert float(divergence.abs().max()) < 1e-3 * float(torch.fft.fft2(v[..., 0]).abs().max())
    assert pde_data.open(flow)["velocity"].dims == ("sample", "time", "x", "y", "component")


def test_relative_l2_is_per_channel_then_averaged():
    target = torch.stack([torch.full((4,), 100.0), torch.full((4,), 1.0)])[None, None]  # (1, 1, 2, 4)
    prediction = target.clone()
    prediction[0, 0, 0] += 10.0  # 10 % on the large channel
    prediction[0, 0, 1] += 1.0  # 100 % on the small one
    assert relative_l2(prediction, target, channel_axis=2).item() == pytest.approx(0.55, rel=1e-5)
    pooled = (4 * 10.0**2 + 4 * 1.0**2) ** 0.5 / (4 * 100.0**2 + 4 * 1.0**2) ** 0.5  # the small channel hidden
    assert relative_l2(prediction, target).item() == pytest.approx(pooled, rel=1e-5)


def test_multi_channel_training_prediction_and_per_field_evaluation(flow, tmp_path, capsys):
    config = load_config(
        None,
        [
            f"data.path={flow}",
            "model.hyperparameters={modes: 8, width: 16, layers: 2}",
            "data.batch_size=8",
            "train.epochs=3",
            "train.device=cpu",
            "train.eval_trajectories=2",
        ],
    )
    _, report = train(config, tmp_path / "run", progress=False)
    assert set(report["model"]["per_channel"]) == {"vorticity", "velocity_x", "velocity_y"}
    surrogate = operators.load(tmp_path / "run")
    assert surrogate.channels == 3 and surrogate.metadata["field_names"] == ["vorticity", "velocity_x", "velocity_y"]
    assert surrogate.predict(torch.randn(2, 1, 3, 32, 32), 2).shape == (2, 2, 3, 32, 32)
    predictions = tmp_path / "pred.h5"
    assert (
        main(
            [
                "predict",
                str(tmp_path / "run"),
                "--input",
                str(flow),
                "--sample",
                "9",
                "--steps",
                "3",
                "--out",
                str(predictions),
            ]
        )
        == 0
    )
    assert pde_data.open(predictions)["velocity"].shape == (1, 3, 32, 32, 2)
    assert main(["evaluate", "--predictions", str(predictions), "--data", str(flow)]) == 0
    assert "velocity_y: relative_l2_rollout" in capsys.readouterr().out


def test_a_split_means_one_thing(tmp_path, capsys):
    train_file = pde_data.generate("ks-lpsda-tiny", tmp_path / "train.h5", 10, progress=False)
    test_file = pde_data.generate("ks-lpsda-tiny", tmp_path / "test.h5", 3, split="test", progress=False)
    assert pde_data.TrajectoryDataset(train_file, split="test").samples == [9]  # inside a train file: last 10 %
    assert pde_data.TrajectoryDataset(test_file, split="test").samples == [0, 1, 2]  # a test file: all of it
    with pytest.raises(ValueError, match="generated for the test split and holds only test trajectories"):
        pde_data.TrajectoryDataset(test_file, split="train")
    # evaluating on a test file scores every trajectory of it (it used to score its last tenth)
    config = load_config(
        None,
        [
            f"data.path={train_file}",
            "model.hyperparameters={modes: 8, width: 8, layers: 1}",
            "train.epochs=1",
            "train.device=cpu",
        ],
    )
    train(config, tmp_path / "run", progress=False, evaluate=False)
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(test_file), "--out", str(tmp_path / "e")]) == 0
    assert '"samples": [\n  0,\n  1,\n  2\n ]' in (tmp_path / "e" / "evaluation.json").read_text()
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(test_file), "--split", "valid"]) == 2
    assert "holds only test trajectories" in capsys.readouterr().err


def test_extra_fields_are_checked_against_the_equation(tmp_path, capsys):
    with pytest.raises(ValueError, match="burgers has no derived field 'velocity'; known: none"):
        pde_data.generate("burgers-fno-tiny", tmp_path / "b.h5", 2, extra_fields=["velocity"], progress=False)
    assert main(["generate", "ks-lpsda-tiny", "--out", str(tmp_path / "k.h5"), "--extra-fields", "vorticity"]) == 2
    assert "ks has no derived field 'vorticity'" in capsys.readouterr().err
    assert not (tmp_path / "k.h5.parts").exists()
