"""Loading: xarray view and torch windows of generated files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

import pde_data


@pytest.fixture(scope="module")
def ns_file(tmp_path_factory):
    return pde_data.generate("ns-fno-1e-4-tiny", tmp_path_factory.mktemp("ns") / "ns.h5", 10, progress=False)


@pytest.fixture(scope="module")
def kdv_file(tmp_path_factory):
    return pde_data.generate("kdv-lpsda-tiny", tmp_path_factory.mktemp("kdv") / "kdv.h5", 4, progress=False)


def test_open_gives_named_dimensions_coordinates_and_attributes(ns_file):
    ds = pde_data.open(ns_file)
    assert ds["vorticity"].dims == ("sample", "time", "x", "y")
    assert ds.sizes == {"sample": 10, "time": 5, "x": 32, "y": 32}
    assert not ds["vorticity"].variable._in_memory  # read lazily
    assert np.allclose(ds["time"].values, [0, 1, 2, 3, 4]) and np.allclose(ds["x"].values, np.arange(32) / 32)
    assert ds.attrs["nu"] == 1e-4 and ds.attrs["dataset_name"] == "ns-fno-1e-4-tiny"
    with h5py.File(ns_file) as f:
        stored = f["t0_fields/vorticity"][()]
    assert np.array_equal(ds["vorticity"].isel(sample=3, time=slice(1, 3)).values, stored[3, 1:3])
    assert ds["caption"].values[0].startswith("The 2D incompressible Navier-Stokes")


def test_open_keeps_per_sample_coordinates(kdv_file):
    ds = pde_data.open(kdv_file)
    assert ds["time"].dims == ("sample", "time") and ds["x"].dims == ("sample", "x")
    assert ds["length"].dims == ("sample",)


def test_trajectory_windows_match_the_file(ns_file):
    windows = pde_data.TrajectoryDataset(ns_file, history=2, horizon=2, stride=1)
    assert len(windows) == 10 * 2 and windows.frame_dt == 1.0
    item = windows[3]
    assert item["input"].shape == (2, 1, 32, 32) and item["target"].shape == (2, 1, 32, 32)
    with h5py.File(ns_file) as f:
        stored = torch.from_numpy(f["t0_fields/vorticity"][item["sample"]])
    start = item["start"]
    assert torch.equal(item["input"][:, 0], stored[start : start + 2])
    assert torch.equal(item["target"][:, 0], stored[start + 2 : start + 4])
    strided = pde_data.TrajectoryDataset(ns_file, history=1, horizon=1, stride=4)
    assert len(strided) == 10 and torch.equal(strided[0]["target"][0, 0], torch.from_numpy(stored_frame(ns_file, 0, 4)))


def stored_frame(path, sample, frame):
    with h5py.File(path) as f:
        return f["t0_fields/vorticity"][sample, frame]


def test_splits_partition_the_trajectories_and_normalisation_uses_file_statistics(ns_file):
    splits = {name: pde_data.TrajectoryDataset(ns_file, split=name).samples for name in ("train", "valid", "test")}
    assert splits == {"train": list(range(8)), "valid": [8], "test": [9]}
    plain = pde_data.TrajectoryDataset(ns_file)
    normalised = pde_data.TrajectoryDataset(ns_file, normalize=True)
    stats = plain.statistics
    assert torch.allclose(normalised[0]["input"], (plain[0]["input"] - stats["mean"]) / stats["std"])


def test_multi_worker_loading_gives_the_same_batches(ns_file):
    windows = pde_data.TrajectoryDataset(ns_file, history=1, horizon=1)
    serial = [b["input"] for b in torch.utils.data.DataLoader(windows, batch_size=8)]
    parallel = [b["input"] for b in torch.utils.data.DataLoader(windows, batch_size=8, num_workers=2)]
    assert all(torch.equal(a, b) for a, b in zip(serial, parallel, strict=True))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(history=4, horizon=2), ValueError, "spans 6 frames, but the trajectories have 5"),
        (dict(history=0), ValueError, "history must be a positive integer"),
        (dict(split="dev"), ValueError, "split must be None or one of"),
    ],
)
def test_bad_window_arguments(ns_file, kwargs, error, message):
    with pytest.raises(error, match=message):
        pde_data.TrajectoryDataset(ns_file, **kwargs)


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="no dataset file"):
        pde_data.open(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="not a pdeop dataset"):
        pde_data.TrajectoryDataset(tmp_path / "other.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        pde_data.open(tmp_path / "text.h5")
