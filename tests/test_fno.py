"""FNO as the paper runs it: kept modes per axis, the published parameter counts, the paper configs."""

from __future__ import annotations

import math

import pytest
import torch

import operators
import pde_data
from training.config import load_config
from training.run import build_model
from training.tasks import build_task


def spectral_convs(model):
    return [m for m in model.modules() if type(m).__name__ == "SpectralConv"]


@pytest.mark.parametrize(("ndim", "modes", "kept"), [(1, 16, (16,)), (2, 12, (24, 12))])
def test_the_paper_mode_count_is_kept_on_every_axis(ndim, modes, kept):
    model = operators.build("fno", in_channels=1, out_channels=1, ndim=ndim, modes=modes, width=4, layers=1)
    assert tuple(spectral_convs(model)[0].weight.shape[-ndim:]) == kept


def test_a_1d_spectral_layer_passes_wavenumbers_below_modes_and_no_others():
    torch.manual_seed(0)
    model = operators.build("fno", in_channels=1, out_channels=1, ndim=1, modes=4, width=2, layers=1)
    conv = spectral_convs(model)[0]
    x = torch.arange(32, dtype=torch.float32) / 32
    passed = []
    for k in range(9):
        wave = torch.cos(2 * math.pi * k * x).expand(1, 2, 32)
        passed.append(bool(conv(wave).abs().max() - conv.bias.abs().max() > 1e-4))
    assert passed == [True] * 4 + [False] * 5  # wavenumbers 0..3 kept, as modes=4 means in the paper


@pytest.mark.parametrize(
    ("hyperparameters", "count"),
    [
        # fourier_2d_time.py: fc0 Linear(12, 20), 4 x (SpectralConv2d(20, 20, 12, 12) + Conv1d(20, 20, 1)),
        # fc1 Linear(20, 128), fc2 Linear(128, 1)
        (dict(in_channels=10, ndim=2, modes=12, width=20, projection_ratio=6.4), 926_357),
        # fourier_1d.py: fc0 Linear(2, 64), 4 x (SpectralConv1d(64, 64, 16) + Conv1d), fc1 Linear(64, 128), fc2
        (dict(in_channels=1, ndim=1, modes=16, width=64, projection_ratio=2.0), 549_569),
    ],
)
def test_the_paper_architectures_have_the_published_parameter_counts(hyperparameters, count):
    model = operators.build("fno", out_channels=1, layers=4, lifting_ratio=0.0, channel_mlp=False, **hyperparameters)
    assert operators.parameter_count(model) == count


def test_the_paper_configs_build_the_paper_networks_and_windows(tmp_path):
    ns = pde_data.generate("ns-fno-1e-3-tiny", tmp_path / "ns.h5", 10, progress=False)  # 5 frames, t = 0..4
    config = load_config("fno-ns", [f"data.path={ns}", "data.history=2", "task.rollout_steps=2"])
    task = build_task(config)
    window = task.train_set[0]
    assert window["start"] == 1 and task.train_set.windows_per_sample == 1  # t = 1, 2 in; t = 3, 4 out
    model = build_model(config, task)
    assert operators.parameter_count(model) == 926_357 - 8 * 20  # 2 frames in instead of 10
    burgers = load_config("fno-burgers", ["data.path=x.h5"])
    assert burgers.task.kind == "operator" and burgers.model.hyperparameters["modes"] == 16


def test_first_frame_carries_through_training_evaluation_and_prediction(tmp_path):
    from training.prediction import predict_to_file
    from training.run import train

    ns = pde_data.generate("ns-fno-1e-3-tiny", tmp_path / "ns.h5", 10, progress=False)  # t = 0..4
    overrides = [
        f"data.path={ns}",
        "data.history=2",
        "data.first_frame=1",
        "train.epochs=1",
        "train.device=cpu",
        "model.hyperparameters={modes: 4, width: 8, layers: 1}",
    ]
    _, report = train(load_config(None, overrides), tmp_path / "run", progress=False)
    assert report["first_frame"] == 1 and len(report["model"]["curves"]["relative_l2"]) == 2  # t = 3, 4
    predict_to_file(tmp_path / "run", ns, tmp_path / "p.h5", 1, [0], progress=False, solver_frames=None)
    import h5py

    with h5py.File(tmp_path / "p.h5", "r") as f:
        assert f.attrs["first_frame"] == 3  # t = 1, 2 given, so the first prediction is stored frame 3
