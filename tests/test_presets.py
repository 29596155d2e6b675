"""Dataset presets: the names the design promises, consistency, and JSON round trips."""

from __future__ import annotations

import json

import pytest

import pde_data
from pde_data.recipes import Recipe

REQUIRED = ["burgers-fno", "burgers-shock", "ns-fno-1e-3", "ns-fno-1e-4", "ns-fno-1e-5", "ks-lpsda", "kdv-lpsda"]


def test_every_required_preset_and_its_tiny_variant_exist_and_are_consistent():
    names = pde_data.presets()
    for name in REQUIRED:
        assert name in names and f"{name}-tiny" in names
    for name in names:
        recipe = pde_data.preset(name)
        recipe.check()
        assert recipe.description, name
        assert recipe.solver_resolution % recipe.resolution == 0


def test_published_configurations():
    ns = pde_data.preset("ns-fno-1e-5")
    assert (ns.coefficients, ns.length, ns.t_end, ns.total_frames, ns.resolution) == ({"nu": 1e-5}, 1.0, 20.0, 21, 64)
    assert ns.initial_condition == {"kind": "grf", "alpha": 2.5, "tau": 7.0} and ns.forcing == "fno"
    ks = pde_data.preset("ks-lpsda")
    assert (ks.length, ks.resolution, ks.total_frames, ks.frames, ks.length_jitter) == (64.0, 256, 500, 140, 0.1)
    kdv = pde_data.preset("kdv-lpsda")
    assert kdv.coefficients == {"alpha": 1.0, "beta": 1.0} and (kdv.length, kdv.total_frames) == (128.0, 250)
    assert pde_data.preset("burgers-fno").coefficients == {"nu": 0.1}
    assert pde_data.preset("burgers-shock").coefficients == {"nu": 1e-3}


def test_recipe_json_round_trip_and_unknown_fields():
    recipe = pde_data.preset("ks-lpsda")
    again = Recipe.from_dict(json.loads(recipe.to_json()))
    assert again.to_json() == recipe.to_json()
    with pytest.raises(ValueError, match="unknown recipe fields"):
        Recipe.from_dict({**recipe.to_dict(), "colour": "red"})


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="known presets: burgers-fno"):
        pde_data.preset("burgers")


def test_stored_resolution_changes():
    recipe = pde_data.preset("ns-fno-1e-3")
    assert recipe.with_resolution(128).solver_resolution == 256
    assert recipe.with_resolution(512).solver_resolution == 512
    with pytest.raises(ValueError, match="does not divide"):
        recipe.with_resolution(96)


def test_frame_interval_is_split_into_whole_steps_no_longer_than_max_dt():
    for name in pde_data.presets():
        recipe = pde_data.preset(name)
        longest = recipe.t_end * (1 + recipe.time_jitter) / (recipe.total_frames - 1)
        assert longest / recipe.substeps() <= recipe.max_dt * (1 + 1e-9)


def test_one_description_per_equation_drives_recipes_and_captions():
    from pde_data.equations import EQUATIONS

    for key, equation in EQUATIONS.items():
        recipe = next(pde_data.preset(n) for n in pde_data.presets() if pde_data.preset(n).equation == key)
        assert recipe.ndim == equation.solver.ndim and recipe.field_name == equation.field
    kdv = EQUATIONS["kdv"]
    assert kdv.equation_text({"alpha": 1.0, "beta": 2.0}) == "u_t + 1 u u_x + 2 u_xxx = 0"
    assert pde_data.preset("ns-fno-1e-3").channels[0].name == "vorticity"


def test_a_file_without_a_readable_recipe_is_refused_clearly(tmp_path):
    import h5py

    from pde_data.storage import file_recipe

    for name, value in (("empty", "{}"), ("garbage", "not json")):
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            f.attrs["recipe"] = value
        with pytest.raises(ValueError, match=f"{name}.h5 has an unreadable recipe attribute"):
            file_recipe(tmp_path / f"{name}.h5")
