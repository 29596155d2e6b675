"""Converters: small files written in each documented source layout convert to the expected arrays,
coordinates and attributes; The Well's own loader reads the result; malformed sources leave nothing."""

import json

import h5py
import numpy as np
import pytest
import torch

from pde_data.convert import convert
from pde_data.convert.source import parameters_from_name
from pde_data.well import WellWindows, is_well_source
from solvers.errors import InputError
from training.cli import main

rng = np.random.default_rng(0)


def converted(path):
    """``(fields {name: array}, attributes, source record, dimensions {name: array})`` of a converted file."""
    with h5py.File(path, "r") as f:
        fields = {name: f[group][name][()] for group in ("t0_fields", "t1_fields") for name in f[group]}
        dims = {name: f["dimensions"][name][()] for name in f["dimensions"]}
        return fields, dict(f.attrs), json.loads(f.attrs["pdeop_source"]), dims


def test_pdebench_flat_file_keeps_its_test_samples_last_and_reads_parameters_from_the_name(tmp_path):
    source = tmp_path / "1D_Burgers_Sols_Nu0.001.hdf5"
    tensor = rng.standard_normal((20, 6, 16)).astype(np.float32)
    with h5py.File(source, "w") as f:
        f["tensor"], f["x-coordinate"], f["t-coordinate"] = tensor, np.linspace(0, 1, 16), np.linspace(0, 2.5, 7)
    out = convert("pdebench", source, tmp_path / "burgers.h5", progress=False)
    fields, attrs, record, dims = converted(out)
    order = [*range(2, 20), 0, 1]  # PDEBench tests on the first int(0.1 N) samples: stored last
    np.testing.assert_array_equal(fields["u"], tensor[order])
    with h5py.File(out, "r") as f:
        assert f["pdeop/source_index"][()].tolist() == order
        assert f["scalars/Nu"][()] == pytest.approx(0.001) and list(attrs["simulation_parameters"]) == ["Nu"]
        assert "x_periodic" in f["boundary_conditions"]
    np.testing.assert_allclose(dims["time"], np.linspace(0, 2.5, 7)[:6])
    np.testing.assert_allclose(dims["x"], np.linspace(0, 1, 16))
    assert record["format"] == "pdebench" and record["file"] == source.name
    assert record["bytes"] == source.stat().st_size and any("t-coordinate" in text for text in record["assumed"])
    test = WellWindows(out, "test")  # pdeop's 80/10/10 rule now gives PDEBench's test samples
    assert [int(i) for _, i in test.samples] == [18, 19]
    torch.testing.assert_close(test.trajectory(0), torch.from_numpy(tensor[0])[:, None])


def test_pdebench_compressible_flow_becomes_density_pressure_and_a_velocity_vector(tmp_path):
    source = tmp_path / "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_8_Train.hdf5"
    arrays = {k: rng.standard_normal((10, 5, 8, 6)).astype(np.float32) for k in ("density", "pressure", "Vx", "Vy")}
    with h5py.File(source, "w") as f:
        for key, value in arrays.items():
            f[key] = value
    fields, attrs, record, dims = converted(convert("pdebench", source, tmp_path / "cfd.h5", progress=False))
    order = [*range(1, 10), 0]
    np.testing.assert_array_equal(fields["velocity"], np.stack([arrays["Vx"], arrays["Vy"]], -1)[order])
    np.testing.assert_array_equal(fields["pressure"], arrays["pressure"][order])
    assert {k: attrs[k] for k in ("M", "Eta", "Zeta")} == pytest.approx({"M": 0.1, "Eta": 0.01, "Zeta": 0.01})
    np.testing.assert_allclose(dims["x"], np.arange(8) / 8)  # no coordinates: the unit box, recorded
    assert any("x: 8 points on the unit interval" in text for text in record["assumed"])
    data = WellWindows(tmp_path / "cfd.h5", None)
    assert data.channel_names == ["density", "pressure", "velocity_x", "velocity_y"]
    with h5py.File(tmp_path / "cfd.h5", "r") as f:  # stored statistics equal the data's
        np.testing.assert_allclose(
            f["t1_fields/velocity"].attrs["mean"], fields["velocity"].mean((0, 1, 2, 3)), rtol=1e-5, atol=1e-7
        )


def test_pdebench_seed_groups_and_darcy_pairs(tmp_path):
    source = tmp_path / "2D_diff-react_NA_NA.h5"
    data = rng.standard_normal((5, 4, 8, 8, 2)).astype(np.float32)
    with h5py.File(source, "w") as f:
        for i in range(5):
            group = f.create_group(f"{i:04d}")
            group["data"], group["grid/x"], group["grid/y"] = data[i], np.linspace(-1, 1, 8), np.linspace(-1, 1, 8)
            group["grid/t"] = np.linspace(0, 5, 4)
    fields, _, _, dims = converted(convert("pdebench", source, tmp_path / "dr.h5", progress=False))
    np.testing.assert_array_equal(fields["u"], data[..., 0])
    np.testing.assert_array_equal(fields["v"], data[..., 1])
    np.testing.assert_allclose(dims["t" if "t" in dims else "time"], np.linspace(0, 5, 4))
    darcy = tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5"
    nu, solution = rng.uniform(0.1, 1, (10, 8, 8)), rng.standard_normal((10, 1, 8, 8))
    with h5py.File(darcy, "w") as f:
        f["nu"], f["tensor"] = nu, solution
    fields, attrs, record, _ = converted(convert("pdebench", darcy, tmp_path / "darcy.h5", progress=False))
    np.testing.assert_allclose(fields["u"][-1], np.stack([nu[0], solution[0, 0]]), rtol=1e-6)  # sample 0 is a test one
    assert attrs["beta"] == 1.0 and any("pairs" in text for text in record["assumed"])


@pytest.mark.parametrize("version", ["v7.3", "v5"])
def test_fno_mat_files_in_both_matlab_versions_give_the_same_trajectories(tmp_path, version):
    a, u = rng.standard_normal((6, 8, 8)), rng.standard_normal((6, 8, 8, 5))
    source = tmp_path / f"ns_{version}.mat"
    if version == "v5":
        scipy_io = pytest.importorskip("scipy.io")
        scipy_io.savemat(source, {"a": a, "u": u, "t": np.arange(1, 6)[None]})
    else:  # MATLAB v7.3 files are HDF5 with every axis reversed
        with h5py.File(source, "w") as f:
            f["a"], f["u"], f["t"] = a.T, u.T, np.arange(1, 6)[None].T
    fields, _, record, dims = converted(convert("fno-mat", source, tmp_path / "ns.h5", progress=False))
    expected = np.concatenate([a[:, None], np.moveaxis(u, -1, 1)], axis=1)
    np.testing.assert_allclose(fields["u"], expected, rtol=1e-6)
    np.testing.assert_allclose(dims["time"], np.arange(6))
    assert version in record["assumed"][0] and any("periodic" in text for text in record["assumed"])


def test_fno_burgers_pairs_become_two_state_trajectories(tmp_path):
    a, u = rng.standard_normal((4, 32)), rng.standard_normal((4, 32))
    with h5py.File(tmp_path / "burgers.mat", "w") as f:
        f["a"], f["u"] = a.T, u.T
    fields, _, _, dims = converted(convert("fno-mat", tmp_path / "burgers.mat", tmp_path / "b.h5", progress=False))
    np.testing.assert_allclose(fields["u"], np.stack([a, u], 1), rtol=1e-6)
    assert dims["time"].tolist() == [0.0, 1.0]


def test_pdearena_file_is_its_split_with_buoyancy_as_a_parameter_and_the_wells_loader_reads_it(tmp_path):
    the_well_data = pytest.importorskip("the_well.data")
    source = tmp_path / "NavierStokes2D_train_1.h5"
    arrays = {k: rng.standard_normal((4, 6, 8, 8)).astype(np.float32) for k in ("u", "vx", "vy")}
    with h5py.File(source, "w") as f:
        group = f.create_group("train")
        for key, value in arrays.items():
            group[key] = value
        group["t"], group["buo_y"] = np.tile(np.linspace(0, 1.5, 6), (4, 1)), np.array([0.2, 0.3, 0.4, 0.5])
        group["x"], group["y"] = np.tile(np.linspace(0, 32, 8), (4, 1)), np.tile(np.linspace(0, 32, 8), (4, 1))
    folder = tmp_path / "arena" / "data" / "train"
    folder.mkdir(parents=True)
    out = convert("pdearena", source, folder / "ns.hdf5", progress=False)
    fields, attrs, _, dims = converted(out)
    np.testing.assert_array_equal(fields["velocity"], np.stack([arrays["vx"], arrays["vy"]], -1))
    assert attrs["split"] == "train" and dims["x"].tolist() == np.linspace(0, 32, 8).tolist()
    with h5py.File(out, "r") as f:
        assert f["scalars/buo_y"][()].tolist() == [0.2, 0.3, 0.4, 0.5] and not f["boundary_conditions"].keys()
    ours = WellWindows(tmp_path / "arena", "train", history=2, horizon=1)
    theirs = the_well_data.WellDataset(
        path=str(tmp_path / "arena"),
        well_split_name="train",
        n_steps_input=2,
        n_steps_output=1,
        use_normalization=False,
        return_grid=False,
        boundary_return_type=None,
    )
    assert len(ours) == len(theirs) == 16 and ours.frame_dt == pytest.approx(0.3)
    for index in (0, 7, 15):
        torch.testing.assert_close(ours[index]["input"].movedim(1, -1), theirs[index]["input_fields"])


def test_neuraloperator_pt_is_loaded_without_unpickling(tmp_path):
    torch.save({"x": torch.randn(7, 1, 8, 8), "y": torch.randn(7, 1, 8, 8)}, tmp_path / "darcy_train_8.pt")
    fields, _, record, _ = converted(
        convert("neuraloperator-pt", tmp_path / "darcy_train_8.pt", tmp_path / "d.h5", progress=False)
    )
    contents = torch.load(tmp_path / "darcy_train_8.pt", weights_only=True)
    assert record["format"] == "neuraloperator-pt" and record["file"] == "darcy_train_8.pt"
    np.testing.assert_array_equal(fields["u"], torch.stack([contents["x"][:, 0], contents["y"][:, 0]], 1).numpy())
    trajectories = torch.randn(3, 4, 16)
    torch.save({"x": trajectories[:, 0], "y": trajectories[:, 1:]}, tmp_path / "burgers.pt")
    fields, _, _, _ = converted(
        convert("neuraloperator-pt", tmp_path / "burgers.pt", tmp_path / "b.h5", progress=False)
    )
    np.testing.assert_array_equal(fields["u"], trajectories.numpy())

    class Evil:
        def __reduce__(self):
            return (print, ("unpickled!",))

    torch.save({"x": torch.zeros(2, 4), "y": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="loads safely"):
        convert("neuraloperator-pt", tmp_path / "evil.pt", tmp_path / "evil.h5", progress=False)
    assert not (tmp_path / "evil.h5").exists()


def test_parameters_from_pdebench_file_names():
    from pathlib import Path

    assert parameters_from_name(Path("1D_ReacDiff_Nu0.5_Rho1.0.hdf5")) == {"Nu": 0.5, "Rho": 1.0}
    assert parameters_from_name(Path("1D_Advection_Sols_beta1.e-1.hdf5")) == {"beta": 0.1}
    assert parameters_from_name(Path("1D_Advection_Sols_betaX_1D.hdf5")) == {}  # not a number: not guessed
    assert parameters_from_name(Path("2D_CFD_Rand_M1.0_Eta1e-08_Zeta1e-08_periodic_128_Train.hdf5")) == {
        "M": 1.0,
        "Eta": 1e-8,
        "Zeta": 1e-8,
    }


MALFORMED = [
    ("pdebench", "flat.h5", lambda p: h5py.File(p, "w").close(), "not a PDEBench file"),
    (
        "pdebench",
        "cfd.h5",
        lambda p: _h5(p, density=np.zeros((2, 3, 4, 4)), pressure=np.zeros((2, 3, 4, 4)), Vx=np.zeros((2, 3, 4, 4))),
        "missing Vy",
    ),
    ("pdebench", "short.h5", lambda p: _h5(p, tensor=np.zeros((2, 1, 8))), "nothing to predict"),
    ("fno-mat", "x.mat", lambda p: _h5(p, a=np.zeros((8, 3))), "needs the arrays a and u"),
    ("fno-mat", "y.mat", lambda p: _h5(p, a=np.zeros((8, 3)), u=np.zeros((9, 3))), "u should be"),
    ("fno-mat", "z.mat", lambda p: p.write_bytes(b"MATLAB garbage"), "neither an HDF5"),
    ("pdearena", "a.h5", lambda p: _h5(p, **{"train/u": np.zeros((2, 3, 4, 4))}), "lacks vx, vy"),
    ("neuraloperator-pt", "n.pt", lambda p: torch.save({"x": torch.zeros(2, 4)}, p), "dict with tensors x and y"),
    ("neuraloperator-pt", "m.pt", lambda p: p.write_bytes(b"junk"), "loads safely"),
]


def _h5(path, **arrays):
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f[key] = value


@pytest.mark.parametrize("format, name, write, message", MALFORMED)
def test_a_malformed_source_is_refused_in_one_line_and_leaves_no_output(tmp_path, capsys, format, name, write, message):
    write(tmp_path / name)
    assert main(["convert", str(tmp_path / name), "--from", format, "--out", str(tmp_path / "out.h5"), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no output, no temporary file


def test_convert_command_refuses_to_overwrite_and_writes_a_file_pdeop_reads(tmp_path, capsys, monkeypatch):
    torch.save({"x": torch.randn(10, 16), "y": torch.randn(10, 16)}, tmp_path / "pairs.pt")
    out = tmp_path / "pairs.h5"
    assert (
        main(
            [
                "convert",
                str(tmp_path / "pairs.pt"),
                "--from",
                "neuraloperator-pt",
                "--out",
                str(out),
                "--quiet",
                "--periodic",
                "yes",
            ]
        )
        == 0
    )
    assert is_well_source(out) and WellWindows(out, None).files[0].periodic == (True,)
    assert main(["convert", str(tmp_path / "pairs.pt"), "--from", "neuraloperator-pt", "--out", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    import pde_data.convert as conversion

    monkeypatch.setitem(conversion.FORMATS, "neuraloperator-pt", lambda *a: pytest.fail("read before checking --out"))
    with pytest.raises(InputError, match=r"folder .*missing does not exist"):  # before reading a large source
        conversion.convert("neuraloperator-pt", tmp_path / "pairs.pt", tmp_path / "missing" / "pairs.h5")
    monkeypatch.undo()
    assert main(["info", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (
        "converted    from neuraloperator-pt: pairs.pt" in printed and "statistics   stored with the fields" in printed
    )
