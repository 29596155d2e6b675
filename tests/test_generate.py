"""Dataset generation: layout, determinism, kill-and-resume, shards, correctness of the stored data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import torch

import pde_data
import solvers
from pde_data.generation import GenerationError, chunk_ranges, sample_seed, shard_path
from solvers.analytic import fno_forcing


def read_everything(path) -> dict:
    """Every dataset and attribute of a file, for equality checks."""
    content = {}
    with h5py.File(path, "r") as f:
        content["/attrs"] = {k: np.asarray(v).tolist() for k, v in f.attrs.items()}

        def visit(name, item):
            content[f"{name}/attrs"] = {k: np.asarray(v).tolist() for k, v in item.attrs.items()}
            if isinstance(item, h5py.Dataset):
                content[name] = item.asstr()[()] if h5py.check_string_dtype(item.dtype) else item[()]

        f.visititems(visit)
    return content


def assert_same_files(a, b) -> None:
    left, right = read_everything(a), read_everything(b)
    assert left.keys() == right.keys()
    for key in left:
        if isinstance(left[key], np.ndarray):
            assert np.array_equal(left[key], right[key]), key
        else:
            assert left[key] == right[key], key


@pytest.fixture(scope="module")
def ks_file(tmp_path_factory):
    return pde_data.generate("ks-lpsda-tiny", tmp_path_factory.mktemp("ks") / "ks.h5", 6, batch_size=4, progress=False)


@pytest.fixture(scope="module")
def ns_file(tmp_path_factory):
    return pde_data.generate("ns-fno-1e-3-tiny", tmp_path_factory.mktemp("ns") / "ns.h5", 3, progress=False)


def test_the_well_layout_and_attributes(ns_file):
    with h5py.File(ns_file, "r") as f:
        assert f.attrs["dataset_name"] == "ns-fno-1e-3-tiny" and f.attrs["grid_type"] == "cartesian"
        assert f.attrs["n_spatial_dims"] == 2 and f.attrs["n_trajectories"] == 3
        assert list(f.attrs["simulation_parameters"]) == ["nu", "length"] and f.attrs["nu"] == 1e-3
        for group in ("dimensions", "boundary_conditions", "scalars", "t0_fields", "t1_fields", "t2_fields"):
            assert group in f
        assert list(f["dimensions"].attrs["spatial_dims"]) == ["x", "y"]
        assert np.allclose(f["dimensions/time"][()], [0, 1, 2, 3, 4])
        assert np.allclose(f["dimensions/x"][()], np.arange(32) / 32)
        vorticity = f["t0_fields/vorticity"]
        assert vorticity.shape == (3, 5, 32, 32) and vorticity.dtype == np.float32
        assert vorticity.attrs["sample_varying"] and vorticity.attrs["time_varying"]
        assert list(vorticity.attrs["dim_varying"]) == [True, True]
        assert vorticity.attrs["std"] == pytest.approx(float(np.std(vorticity[()].astype(np.float64))), rel=1e-6)
        assert f["boundary_conditions/x_periodic"].attrs["bc_type"] == "PERIODIC"
        assert list(f["t0_fields"].attrs["field_names"]) == ["vorticity"]
        assert list(f["scalars"].attrs["field_names"]) == ["nu", "length"]
        assert json.loads(f.attrs["recipe"])["name"] == "ns-fno-1e-3-tiny"
        assert f.attrs["seed"] == 0 and f.attrs["split"] == "train"
        captions = f["pdeop/caption"].asstr()[()]
        assert len(captions) == 3 and "Navier-Stokes" in captions[0] and "nu = 0.001" in captions[0]
        assert list(f["pdeop/sample_index"][()]) == [0, 1, 2]


def test_jittered_presets_store_per_sample_lengths_and_times(ks_file):
    with h5py.File(ks_file, "r") as f:
        lengths, times = f["scalars/length"][()], f["dimensions/time"][()]
        assert lengths.shape == (6,) and 0.9 * 64 <= lengths.min() and lengths.max() <= 1.1 * 64
        assert len(set(lengths.round(8))) == 6 and times.shape == (6, 21)
        assert np.allclose(f["dimensions/x"][()], lengths[:, None] * np.arange(64) / 64)
        # the last 21 of 41 frames over [0, 20 * factor]
        factors = times[:, -1] / 20.0
        assert np.allclose(times, factors[:, None] * np.arange(20, 41) * 0.5)


def test_stored_data_solves_the_stated_equation(ns_file, ks_file):
    # re-solve stored frames with solvers built from the file's own attributes
    with h5py.File(ns_file, "r") as f:
        w = torch.from_numpy(f["t0_fields/vorticity"][()]).double()
        x, y = torch.meshgrid(*(torch.from_numpy(f["dimensions/x"][()]),) * 2, indexing="ij")
        ns = solvers.NavierStokes2D(n=32, length=1.0, dt=1e-2, nu=float(f.attrs["nu"]), forcing=fno_forcing(x, y))
    again = ns.solve(w[:, 0], [0.0, 2.0, 4.0])
    assert float((again[:, 2] - w[:, 4]).norm() / w[:, 4].norm()) < 1e-5
    with h5py.File(ks_file, "r") as f:
        u = torch.from_numpy(f["t0_fields/u"][()]).double()
        lengths, times = f["scalars/length"][()], f["dimensions/time"][()]
    for i in range(2):
        frame_dt = float(times[i, 1] - times[i, 0])
        ks = solvers.KuramotoSivashinsky1D(n=64, length=float(lengths[i]), dt=frame_dt / 3)
        again = ks.solve(u[i : i + 1, 0], [0.0, 2 * frame_dt])[0, -1]
        assert float((again - u[i, 2]).norm() / u[i, 2].norm()) < 1e-5


def test_same_seed_same_bytes_different_seed_different_data(tmp_path, ks_file):
    again = pde_data.generate("ks-lpsda-tiny", tmp_path / "again.h5", 6, batch_size=4, progress=False)
    assert_same_files(ks_file, again)
    other = pde_data.generate("ks-lpsda-tiny", tmp_path / "other.h5", 6, seed=1, batch_size=4, progress=False)
    with h5py.File(ks_file) as a, h5py.File(other) as b:
        assert not np.allclose(a["t0_fields/u"][()], b["t0_fields/u"][()])
    valid = pde_data.generate("ks-lpsda-tiny", tmp_path / "valid.h5", 6, split="valid", batch_size=4, progress=False)
    with h5py.File(ks_file) as a, h5py.File(valid) as b:
        assert not set(a["pdeop/seed"][()]) & set(b["pdeop/seed"][()])


def test_a_sample_does_not_depend_on_the_batch_it_was_solved_in(tmp_path, ks_file):
    single = pde_data.generate("ks-lpsda-tiny", tmp_path / "single.h5", 6, batch_size=1, progress=False)
    with h5py.File(ks_file) as a, h5py.File(single) as b:
        assert np.allclose(a["t0_fields/u"][()], b["t0_fields/u"][()], atol=1e-5)
        assert np.array_equal(a["pdeop/seed"][()], b["pdeop/seed"][()])


def test_shards_merge_into_the_single_run_file(tmp_path, ks_file):
    target = tmp_path / "ks.h5"
    for index in (1, 0):
        written = pde_data.generate("ks-lpsda-tiny", target, 6, batch_size=4, shard=f"{index}/2", progress=False)
        assert written == shard_path(target, index, 2)
    merged = pde_data.merge_shards(target)
    assert_same_files(ks_file, merged)


def test_merge_refuses_incomplete_or_foreign_shards(tmp_path):
    target = tmp_path / "d.h5"
    pde_data.generate("ks-lpsda-tiny", target, 4, batch_size=1, shard="0/2", progress=False)
    with pytest.raises(GenerationError, match="hold 2 of 4 samples"):
        pde_data.merge_shards(target)
    pde_data.generate("ks-lpsda-tiny", target, 4, batch_size=1, seed=5, shard="1/2", progress=False)
    with pytest.raises(GenerationError, match="another run"):
        pde_data.merge_shards(target)
    with pytest.raises(GenerationError, match="no shard files"):
        pde_data.merge_shards(tmp_path / "none.h5")


def test_chunks_and_shards_partition_the_samples():
    for n, batch, shards in [(10, 3, 1), (10, 3, 2), (7, 2, 4), (9, 2, 5)]:
        covered = []
        for i in range(shards):
            covered += [s for _, start, stop in chunk_ranges(n, batch, (i, shards)) for s in range(start, stop)]
        assert covered == list(range(n))
    with pytest.raises(GenerationError, match="cannot split 1 batch"):
        chunk_ranges(5, 8, (0, 3))


def test_sample_seeds_regenerate_one_trajectory(ks_file):
    with h5py.File(ks_file) as f:
        assert int(f["pdeop/seed"][3]) == sample_seed(0, "train", 3)


def _generate_command(path, samples):
    return [
        sys.executable,
        "-m",
        "training.cli",
        "generate",
        "kdv-lpsda-tiny",
        "--out",
        str(path),
        "--samples",
        str(samples),
        "--batch-size",
        "2",
        "--quiet",
    ]


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_to_the_same_bytes(tmp_path):
    samples = 60
    reference = pde_data.generate("kdv-lpsda-tiny", tmp_path / "reference.h5", samples, batch_size=2, progress=False)
    target = tmp_path / "killed.h5"
    parts = tmp_path / "killed.h5.parts"
    process = subprocess.Popen(_generate_command(target, samples), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(parts.glob("chunk-*.h5"))) < 3:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(list(parts.glob("chunk-*.h5")))
    assert not target.exists(), "the run finished before it could be killed; raise the sample count"
    assert 3 <= finished < samples // 2
    with pytest.raises(GenerationError, match="pass --resume"):
        pde_data.generate("kdv-lpsda-tiny", target, samples, batch_size=2, progress=False)
    pde_data.generate("kdv-lpsda-tiny", target, samples, batch_size=2, resume=True, progress=False)
    assert not parts.exists()
    assert_same_files(reference, target)


def test_resume_with_other_settings_is_refused(tmp_path):
    target = tmp_path / "x.h5"
    parts = tmp_path / "x.h5.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text(json.dumps({"seed": 99}))
    with pytest.raises(GenerationError, match="different settings"):
        pde_data.generate("ks-lpsda-tiny", target, 2, resume=True, progress=False)


def test_overwrite_replaces_only_when_asked(tmp_path, ks_file):
    target = tmp_path / "ks.h5"
    target.write_bytes(b"old")
    with pytest.raises(GenerationError, match="exists; pass --overwrite"):
        pde_data.generate("ks-lpsda-tiny", target, 2, progress=False)
    pde_data.generate("ks-lpsda-tiny", target, 2, overwrite=True, progress=False)
    assert h5py.is_hdf5(target)


def test_a_diverging_solve_names_the_sample_and_seed(tmp_path):
    recipe = pde_data.preset("burgers-fno-tiny")
    unstable = type(recipe)(**{**recipe.to_dict(), "coefficients": {"nu": 0.0}, "max_dt": 0.05, "total_frames": 2})
    with pytest.raises(GenerationError, match=r"diverged at t = .* sample 0 \(seed \d+\)"):
        pde_data.generate(unstable, tmp_path / "bad.h5", 2, progress=False)
    assert not (tmp_path / "bad.h5").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(recipe="nope"), "unknown preset 'nope'; known presets"),
        (dict(n_samples=0), "number of samples must be a positive integer"),
        (dict(batch_size=-1), "batch size must be a positive integer"),
        (dict(seed=-3), "seed must be an integer >= 0"),
        (dict(shard="2/2"), "bad shard 2/2"),
        (dict(shard="x"), "expected I/K"),
        (dict(split="dev"), "unknown split 'dev'"),
        (dict(resolution=48), "does not divide the solver resolution"),
        (dict(device="tpu"), "unknown device"),
        (dict(path="/nonexistent-folder/x.h5"), "folder /nonexistent-folder does not exist"),
    ],
)
def test_bad_arguments_raise_one_clear_error(tmp_path, kwargs, message):
    arguments = dict(recipe="ks-lpsda-tiny", path=tmp_path / "x.h5", n_samples=2, progress=False)
    arguments.update(kwargs)
    with pytest.raises(GenerationError, match=message):
        pde_data.generate(arguments.pop("recipe"), arguments.pop("path"), arguments.pop("n_samples"), **arguments)


def test_the_well_loader_reads_our_files(tmp_path, ks_file):
    well = pytest.importorskip("the_well.data")
    folder = tmp_path / "data" / "train"
    folder.mkdir(parents=True)
    (folder / "ks.hdf5").write_bytes(ks_file.read_bytes())
    dataset = well.WellDataset(path=str(folder), n_steps_input=2, n_steps_output=1, use_normalization=False)
    assert len(dataset) == 6 * (21 - 3 + 1)
    item = dataset[0]
    with h5py.File(ks_file) as f:
        stored = f["t0_fields/u"][0, :3]
    assert np.array_equal(item["input_fields"][..., 0].numpy(), stored[:2])
    assert np.array_equal(item["output_fields"][..., 0].numpy(), stored[2:3])
