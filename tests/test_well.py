"""The Well's datasets read directly: windows equal to ``the_well``'s own ``WellDataset``, item by item."""

import h5py
import numpy as np
import pytest
import torch
import yaml

from pde_data.well import WellWindows
from solvers.errors import InputError, MissingFileError

the_well_data = pytest.importorskip("the_well.data", reason="the_well is in the test extra")
dummy = pytest.importorskip("the_well.utils.dummy_data")


def well_dataset(root, history, horizon, stride=1):
    return the_well_data.WellDataset(
        path=str(root),
        well_split_name="train",
        n_steps_input=history,
        n_steps_output=horizon,
        min_dt_stride=stride,
        max_dt_stride=stride,
        use_normalization=False,
        return_grid=False,
        boundary_return_type=None,
    )


def assert_same_windows(ours: WellWindows, theirs) -> None:
    assert len(ours) == len(theirs)
    for index in range(len(ours)):
        a, b = ours[index], theirs[index]
        torch.testing.assert_close(a["input"].movedim(1, -1), b["input_fields"], rtol=0, atol=0)
        torch.testing.assert_close(a["target"].movedim(1, -1), b["output_fields"], rtol=0, atol=0)
        if "constant_fields" in b:
            torch.testing.assert_close(a["constant"].movedim(0, -1), b["constant_fields"], rtol=0, atol=0)


@pytest.mark.parametrize("history, horizon, stride", [(1, 1, 1), (2, 3, 1), (2, 2, 2)])
def test_windows_of_the_wells_dummy_dataset_equal_the_wells_own(tmp_path, history, horizon, stride):
    folder = tmp_path / "dummy" / "data" / "train"
    folder.mkdir(parents=True)
    np.random.seed(0)  # noqa: NPY002  (the_well's dummy writer draws from numpy's global generator)
    for name in ("a.hdf5", "b.hdf5"):  # two files in one split are one dataset
        dummy.write_dummy_data(str(folder / name))
    ours = WellWindows(tmp_path / "dummy", "train", history, horizon, stride)
    assert ours.channel_names == ["field_x", "field_y"] and ours.constant_names == ["constant_field"]
    assert ours.periodic == (True, True)
    assert_same_windows(ours, well_dataset(tmp_path / "dummy", history, horizon, stride))


def write_mixed_file(path, n=3, steps=6, nx=8, ny=6):
    """A Well file with t0, t1 and t2 fields, one field constant over samples and along y (stored with a
    size-1 y axis, as The Well's loader expects), one constant in time, and per-sample coordinates."""
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        f.attrs.update(dataset_name="mixed", grid_type="cartesian", n_spatial_dims=2, n_trajectories=n)
        f.attrs["simulation_parameters"] = []
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims.create_dataset("time", data=np.linspace(0, 1, steps)).attrs["sample_varying"] = False
        x = dims.create_dataset("x", data=np.linspace(0, 1, nx)[None] * rng.uniform(1, 2, (n, 1)))
        x.attrs["sample_varying"] = True
        dims.create_dataset("y", data=np.linspace(0, 1, ny)).attrs["sample_varying"] = False
        f.create_group("boundary_conditions")
        f.create_group("scalars").attrs["field_names"] = []
        specs = {
            "t0_fields": {
                "density": ((n, steps, nx, ny), True, True, [True, True]),
                "forcing": ((steps, nx, 1), True, False, [True, False]),
                "mask": ((n, nx, ny), False, True, [True, True]),
            },
            "t1_fields": {"velocity": ((n, steps, nx, ny, 2), True, True, [True, True])},
            "t2_fields": {"stress": ((n, steps, nx, ny, 2, 2), True, True, [True, True])},
        }
        for group, fields in specs.items():
            g = f.create_group(group)
            g.attrs["field_names"] = list(fields)
            for name, (shape, time_varying, sample_varying, dim_varying) in fields.items():
                d = g.create_dataset(name, data=rng.standard_normal(shape).astype(np.float32))
                d.attrs.update(time_varying=time_varying, sample_varying=sample_varying, dim_varying=dim_varying)


def test_t0_t1_t2_fields_broadcast_flags_and_per_sample_coordinates_match_the_well(tmp_path):
    folder = tmp_path / "mixed" / "data" / "train"
    folder.mkdir(parents=True)
    write_mixed_file(folder / "m.hdf5")
    ours = WellWindows(tmp_path / "mixed", "train", history=2, horizon=1)
    assert ours.channel_names == [
        "density",
        "forcing",
        "velocity_x",
        "velocity_y",
        "stress_xx",
        "stress_xy",
        "stress_yx",
        "stress_yy",
    ]
    assert ours.constant_names == ["mask"] and ours.grid_shape == (8, 6)
    assert_same_windows(ours, well_dataset(tmp_path / "mixed", 2, 1))
    single = WellWindows(folder / "m.hdf5", None, history=2, horizon=1)  # one file alone is a dataset too
    torch.testing.assert_close(single[4]["input"], ours[4]["input"])
    expected = ours[4]["input"]
    ours.close()
    single.close()
    with h5py.File(folder / "m.hdf5", "r+") as f:  # a writer that leaves the constant axis out entirely
        values = f["t0_fields/forcing"][()][..., 0]
        attributes = dict(f["t0_fields/forcing"].attrs)
        del f["t0_fields/forcing"]
        f["t0_fields"].create_dataset("forcing", data=values).attrs.update(attributes)
    dropped = WellWindows(folder / "m.hdf5", None, history=2, horizon=1)
    torch.testing.assert_close(dropped[4]["input"], expected)


def test_statistics_come_from_stats_yaml_or_are_computed(tmp_path):
    folder = tmp_path / "mixed" / "data" / "train"
    folder.mkdir(parents=True)
    write_mixed_file(folder / "m.hdf5")
    data = WellWindows(tmp_path / "mixed", "train")
    with h5py.File(folder / "m.hdf5", "r") as f:
        density = f["t0_fields/density"][()]
    computed = data.statistics
    assert float(computed["mean"][0]) == pytest.approx(float(density.mean()), abs=1e-6)
    assert float(computed["std"][0]) == pytest.approx(float(density.std()), rel=1e-5)
    stats = {
        "mean": {"density": 1.0, "forcing": 2.0, "velocity": [3.0, 4.0], "stress": [[5, 6], [7, 8]], "mask": 0},
        "std": {"density": 0.5, "forcing": 1.0, "velocity": [1.0, 2.0], "stress": [[1, 2], [3, 4]], "mask": 1},
    }
    (tmp_path / "mixed" / "stats.yaml").write_text(yaml.safe_dump(stats))
    from_file = WellWindows(tmp_path / "mixed", "train").statistics
    assert from_file["mean"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert from_file["std"].tolist() == [0.5, 1, 1, 2, 1, 2, 3, 4]


def test_workers_read_the_same_windows(tmp_path):
    folder = tmp_path / "d" / "data" / "train"
    folder.mkdir(parents=True)
    dummy.write_dummy_data(str(folder / "a.hdf5"))
    data = WellWindows(tmp_path / "d", "train", history=2, horizon=1)
    serial = [data[i]["input"] for i in range(len(data))]
    loader = torch.utils.data.DataLoader(data, batch_size=4, num_workers=2)
    parallel = torch.cat([batch["input"] for batch in loader])
    torch.testing.assert_close(parallel, torch.stack(serial))


def test_bad_paths_and_windows_get_one_line(tmp_path):
    with pytest.raises(MissingFileError, match="no Well file"):
        WellWindows(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingFileError, match="no valid split"):
        WellWindows(tmp_path / "empty", "valid")
    (tmp_path / "plain.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="not a readable HDF5"):
        WellWindows(tmp_path / "plain.h5")
    folder = tmp_path / "d" / "data" / "train"
    folder.mkdir(parents=True)
    dummy.write_dummy_data(str(folder / "a.hdf5"))
    with pytest.raises(InputError, match="spans 11 steps"):
        WellWindows(tmp_path / "d", "train", history=5, horizon=6)


def test_missing_fields_and_corrupted_values_are_named(tmp_path):
    listed = write_splits(tmp_path / "listed", write_masked_file, (("train", 4),))
    with h5py.File(listed / "data" / "train" / "train.hdf5", "a") as f:
        del f["t0_fields/u"]
    with pytest.raises(InputError, match="t0_fields lists 'u' but holds no such dataset"):
        WellWindows(listed, "train")
    for field, index, where in (
        ("u", (2, 3, 5), "trajectory 2, frame 3"),
        ("mask", (1, 4), "trajectory 1, a constant"),
    ):
        root = write_splits(tmp_path / f"nan-{field}", write_masked_file, (("train", 4),))
        with h5py.File(root / "data" / "train" / "train.hdf5", "a") as f:
            values = f["t0_fields"][field][()]
            values[index] = np.nan
            f["t0_fields"][field][...] = values
        # corrupted data must not reach training, where it would read as a learning rate too high
        with pytest.raises(InputError, match=f"contains non-finite values \\({where}"):
            _ = WellWindows(root, "train").statistics


def test_pdeop_info_summarises_a_well_directory_and_file(tmp_path, capsys):
    from training.cli import main

    folder = tmp_path / "mixed" / "data" / "train"
    folder.mkdir(parents=True)
    write_mixed_file(folder / "m.hdf5")
    assert main(["info", str(tmp_path / "mixed")]) == 0
    printed = capsys.readouterr().out
    assert "train: 1 file(s), 3 trajectories" in printed and "8 (x) x 6 (y)" in printed
    assert "stress (t2: 4 channel(s); varies with time, sample)" in printed
    assert "forcing (t0: 1 channel(s); varies with time; constant along y)" in printed
    assert "mask (t0: 1 channel(s); constant in time; varies with sample)" in printed
    assert main(["info", str(folder / "m.hdf5")]) == 0
    assert "trajectories 3" in capsys.readouterr().out


def write_splits(root, writer, counts=(("train", 4), ("valid", 2), ("test", 2))):
    """A Well dataset directory with one file per split, each written by ``writer(path, n)``."""
    for split, n in counts:
        (root / "data" / split).mkdir(parents=True)
        writer(root / "data" / split / f"{split}.hdf5", n)
    return root


def test_train_evaluate_and_plot_on_a_well_directory_with_t0_t1_t2_and_constant_fields(tmp_path, capsys):
    import operators
    from training.cli import main

    root = write_splits(tmp_path / "mixed", lambda path, n: write_mixed_file(path, n=n))
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(root),
                "--epochs",
                "1",
                "--out",
                str(run),
                "--quiet",
                "--set",
                "data.batch_size=4",
                "--set",
                "model.hyperparameters={modes: 3, width: 8}",
            ]
        )
        == 0
    )
    surrogate = operators.load(run)
    assert surrogate.constants["names"] == ["mask"] and surrogate.metadata["dataset"] == "mixed"
    assert surrogate.model.pdeop_spec["hyperparameters"]["in_channels"] == 9  # 8 state channels + the mask
    assert surrogate.metadata["fields"] == {"density": [0], "forcing": [1], "velocity": [2, 3], "stress": [4, 5, 6, 7]}
    with pytest.raises(InputError, match=r"constant fields \['mask'\]: pass constant="):
        surrogate.predict(torch.zeros(1, 1, 8, 8, 6), 1)
    with pytest.raises(InputError, match=r"constant must have shape \(batch or 1, 1, 8, 6\)"):
        surrogate.predict(torch.zeros(1, 1, 8, 8, 6), 1, constant=torch.zeros(1, 2, 8, 6))
    assert surrogate.predict(torch.zeros(3, 1, 8, 8, 6), 2, constant=torch.zeros(1, 1, 8, 6)).shape == (3, 2, 8, 8, 6)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(root), "--split", "test", "--out", str(tmp_path / "e")]) == 0
    printed = capsys.readouterr().out
    assert "velocity: relative_l2_rollout" in printed and "stress_xy: relative_l2_rollout" in printed
    import json

    report = json.loads((tmp_path / "e" / "evaluation.json").read_text())
    assert report["samples"] == [0, 1] and set(report["model"]["per_field"]) == {"velocity", "stress"}
    assert main(["predict", str(run), "--input", str(root), "--steps", "2", "--out", str(tmp_path / "p.h5")]) == 2
    assert "roll out and score this data with pdeop evaluate" in capsys.readouterr().err
    assert main(["plot", str(root), "--channel", "velocity_y", "--out", str(tmp_path / "v.png")]) == 0
    assert (tmp_path / "v.png").stat().st_size > 0
    other = write_splits(tmp_path / "other", lambda path, n: write_mixed_file(path, n=n + 1))
    assert main(["train", "--data", str(other), "--epochs", "2", "--out", str(run), "--resume"]) == 2
    assert "cannot resume" in capsys.readouterr().err
    assert main(["train", "--data", str(root / "data" / "test" / "test.hdf5"), "--out", str(tmp_path / "r2")]) == 2
    assert "holds only test trajectories" in capsys.readouterr().err  # a file in data/test/ is the test split


def write_masked_file(path, n, steps=6, nx=16):
    """``u(t+1) = mask - u(t)`` with a per-sample ``mask`` that does not change in time: without the
    mask a model cannot know the next state; with it the map is linear."""
    rng = np.random.default_rng(abs(hash(path.name)) % 1000)
    mask = rng.standard_normal((n, nx))
    u = [rng.standard_normal((n, nx))]
    for _ in range(steps - 1):
        u.append(mask - u[-1])
    with h5py.File(path, "w") as f:
        f.attrs.update(dataset_name="masked", grid_type="cartesian", n_spatial_dims=1, n_trajectories=n)
        f.attrs["simulation_parameters"] = []
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x"]
        dims.create_dataset("time", data=np.arange(steps, dtype=float)).attrs["sample_varying"] = False
        dims.create_dataset("x", data=np.arange(nx) / nx).attrs["sample_varying"] = False
        f.create_group("boundary_conditions")
        f.create_group("scalars").attrs["field_names"] = []
        group = f.create_group("t0_fields")
        group.attrs["field_names"] = ["u", "mask"]
        for name, values, time_varying in (("u", np.stack(u, 1), True), ("mask", mask, False)):
            d = group.create_dataset(name, data=values.astype(np.float32))
            d.attrs.update(time_varying=time_varying, sample_varying=True, dim_varying=[True])


def test_constant_fields_reach_the_model(tmp_path):
    from training.config import load_config
    from training.run import train

    root = write_splits(tmp_path / "masked", write_masked_file, (("train", 32), ("valid", 8), ("test", 8)))
    config = load_config(
        None,
        [
            f"data.path={root}",
            "train.epochs=30",
            "data.batch_size=16",
            "optim.lr=1e-2",
            "model.hyperparameters={modes: 8, width: 16}",
            "train.eval_trajectories=8",
        ],
    )
    _, report = train(config, tmp_path / "run", progress=False)
    model, persistence = report["model"]["summary"], report["persistence"]["summary"]
    # persistence is far off (u(t+1) - u(t) = mask - 2 u(t)); the mask makes the next state computable
    assert persistence["relative_l2_one_step"] > 1.0
    assert model["relative_l2_one_step"] < 0.1


def test_one_source_interface_for_pdeop_files_and_the_wells_data(tmp_path):
    import pde_data
    from pde_data.sources import open_source, window_data

    folder = tmp_path / "mixed" / "data" / "train"
    folder.mkdir(parents=True)
    write_mixed_file(folder / "m.hdf5")
    ours = pde_data.generate("burgers-fno-tiny", tmp_path / "b.h5", 6, progress=False)
    well, generated = open_source(tmp_path / "mixed", "train"), open_source(ours, "test")
    assert (well.generated, generated.generated) == (False, True)
    for source in (well, generated):
        first = source.trajectory_indices[0]
        fields = source.trajectory(first)
        assert fields.dtype == torch.float32 and fields.shape[1] == len(source.channel_names)
        assert source.coordinates(first).shape == (fields.shape[2],) and source.description["name"]
        constants = source.constants(first)
        assert (constants is None) == (not source.constant_names)
        assert source.summary().startswith(str(source.path))
        windows = window_data(source.path, 1, 1, 1, "train")
        assert windows[0]["input"].shape[-len(fields.shape[2:]) :] == fields.shape[2:]
    assert generated.trajectory_indices == [5]  # the test split of a 6-trajectory train file: its last 10 %
    assert well.trajectory_indices == [0, 1, 2] and well.constant_names == ["mask"]
    with pytest.raises(MissingFileError, match="a folder, but not a Well dataset"):
        open_source(tmp_path)
