"""Datasets whose physical parameters vary per sample (``Recipe.varying``), with captions that state them."""

import dataclasses
import re

import pytest
import torch

import pde_data
from pde_data.generation import draw_sample, sample_seed
from pde_data.parameters import TEMPLATES, draw_parameters, forcing_field, initial_conditions
from solvers import solver_class
from solvers.analytic import fno_forcing, kolmogorov_forcing
from solvers.errors import InputError


def test_per_sample_viscosity_and_forcing_solve_as_separate_solves_do():
    n = 16
    x = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    forcing = torch.stack([fno_forcing(X, Y), kolmogorov_forcing(Y, 1.0, 2, 0.05), torch.zeros(n, n)])
    nu = torch.tensor([1e-3, 5e-3, 2e-2])
    u0 = torch.randn(3, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    u0 -= u0.mean((-2, -1), keepdim=True)
    ns = solver_class("ns")
    times = torch.tensor([0.0, 0.1, 0.2])
    batched = ns(n=n, dt=1e-2, nu=nu, forcing=forcing).solve(u0, times)
    for i in range(3):
        alone = ns(n=n, dt=1e-2, nu=float(nu[i]), forcing=forcing[i]).solve(u0[i : i + 1], times)
        torch.testing.assert_close(batched[i], alone[0], rtol=0, atol=1e-13)
    with pytest.raises(InputError, match="same number of entries"):
        ns(n=n, dt=1e-2, nu=nu[:2], forcing=forcing)
    with pytest.raises(InputError, match=">= 0"):
        ns(n=n, dt=1e-2, nu=[1e-3, -1.0])


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "ns-text.h5"
    return pde_data.generate("ns-text-tiny", path, 8, batch_size=3, progress=False)


def test_captions_state_the_drawn_parameters_that_the_file_stores(text_file):
    data = pde_data.FullTrajectoryDataset(text_file)
    items = [data[i] for i in range(len(data))]
    phrasings = set()
    for item in items:
        values, caption = item["parameters"], item["caption"]
        assert f"{values['nu']:.3g}" in caption
        assert item["coefficients"]["nu"] == pytest.approx(values["nu"])
        assert 1e-3 <= values["nu"] <= 1e-2
        assert values["initial_condition"] in caption
        words = {"none": "no forcing", "fno": "diagonal sinusoidal", "kolmogorov": "Kolmogorov forcing at wavenumber"}
        assert words[values["forcing"]] in caption
        if values["forcing"] == "kolmogorov":
            assert f"wavenumber {values['forcing_wavenumber']} " in caption
        phrasings.add(values["template"])
    assert len(phrasings) >= 2  # several phrasings, drawn per sample
    table = pde_data.open(text_file)  # the same values as xarray variables
    assert [float(v) for v in table["nu"].values] == pytest.approx([item["parameters"]["nu"] for item in items])
    assert list(table["forcing"].values) == [item["parameters"]["forcing"] for item in items]


def test_a_sample_draws_the_same_parameters_whatever_its_batch(text_file, tmp_path):
    again = pde_data.generate("ns-text-tiny", tmp_path / "again.h5", 8, batch_size=8, progress=False)
    first, second = pde_data.FullTrajectoryDataset(text_file), pde_data.FullTrajectoryDataset(again)
    for i in range(len(first)):
        assert first[i]["parameters"] == second[i]["parameters"]
        assert first[i]["caption"] == second[i]["caption"]
        torch.testing.assert_close(first[i]["fields"], second[i]["fields"])


def test_the_forcing_and_viscosity_drawn_are_the_ones_solved(text_file):
    """Re-solve one trajectory with a plain single-sample solver from its stored values."""
    data = pde_data.FullTrajectoryDataset(text_file)
    recipe = data.recipe
    item = data[1]
    values = item["parameters"]
    initial = pde_data.InitialConditionDataset(recipe, 8)[item["sample"]]
    assert initial["parameters"] == values
    n = recipe.solver_resolution
    x = torch.arange(n, dtype=torch.float64) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    u0 = draw_sample(recipe, initial_conditions(recipe, n), sample_seed(0, "train", item["sample"]))[0]
    solver = solver_class("ns")(
        n=n,
        dt=recipe.t_end / (recipe.total_frames - 1) / recipe.substeps(),
        nu=values["nu"],
        forcing=forcing_field(values["forcing"], X, Y, 1.0, values),
    )
    frames = solver.solve(u0[None], item["time"])[0, :, :: n // recipe.resolution, :: n // recipe.resolution]
    torch.testing.assert_close(frames.float(), item["fields"][:, 0], rtol=1e-4, atol=1e-5)


def test_varying_parameters_are_checked():
    text = pde_data.preset("ns-text-tiny")
    with pytest.raises(InputError, match="unknown varying"):
        dataclasses.replace(text, varying={"viscosity": [1e-3, 1e-2]}).check()
    with pytest.raises(InputError, match=r"\[low, high\]"):
        dataclasses.replace(text, varying={"nu": [1e-2, 1e-3]}).check()
    with pytest.raises(InputError, match="only ns"):
        dataclasses.replace(pde_data.preset("burgers-fno-tiny"), varying={"nu": [1e-2, 1e-1]}).check()
    with pytest.raises(InputError, match="forcing"):
        dataclasses.replace(text, varying={"forcing": ["fno", "wind"]}).check()
    with pytest.raises(InputError, match="pass each sample"):
        text.build_solver(torch.ones(2), torch.ones(2), torch.float64, "cpu")


def test_draws_cover_their_ranges_and_every_phrasing():
    varying = pde_data.preset("ns-text").varying
    draws = [draw_parameters(varying, seed) for seed in range(400)]
    nus = torch.tensor([d["nu"] for d in draws])
    low, high = varying["nu"]
    assert low <= float(nus.min()) and float(nus.max()) <= high
    # log-uniform: the log-midpoint splits the draws about evenly
    assert 0.4 < float((nus < (low * high) ** 0.5).float().mean()) < 0.6
    assert {d["forcing"] for d in draws} == set(varying["forcing"])
    assert {d["forcing_wavenumber"] for d in draws} == set(range(1, 5))
    assert {d["template"] for d in draws} == set(range(len(TEMPLATES)))
    assert all(re.fullmatch(r"[a-z -]+", d["initial_condition"]) for d in draws)


def test_commands_handle_files_whose_parameters_vary(text_file, tmp_path, capsys):
    """info lists the varying parameters (it crashed on a missing root attribute), predict times the solver
    with each sample's values and its file carries them, and the physics task refuses such a recipe."""
    from training.cli import main

    assert main(["info", str(text_file)]) == 0
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(text_file),
                "--model",
                "fno",
                "--out",
                str(run),
                "--epochs",
                "1",
                "--quiet",
                "--set",
                "model.hyperparameters={modes: 4, width: 8}",
            ]
        )
        == 0
    )
    out = tmp_path / "pred.h5"
    assert main(["predict", str(run), "--input", str(text_file), "--steps", "2", "--out", str(out), "--quiet"]) == 0
    predicted, source = pde_data.open(out), pde_data.open(text_file)
    assert list(predicted["forcing"].values) == list(source["forcing"].values)
    physics = [
        "train",
        "--model",
        "fno",
        "--out",
        str(tmp_path / "p"),
        "--quiet",
        "--set",
        "task.kind=physics",
        "--set",
        "data.recipe=ns-text-tiny",
    ]
    assert main(physics) == 2
    assert "needs one equation for every sample" in capsys.readouterr().err


def test_info_prints_the_ranges_of_varying_parameters(text_file, capsys):
    from training.cli import main

    assert main(["info", str(text_file)]) == 0
    printed = capsys.readouterr().out
    assert "varying      nu per sample:" in printed and "varying      forcing per sample:" in printed
