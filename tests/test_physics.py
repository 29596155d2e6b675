"""Physics-constrained training (the PDE residual) and the NeuralStagger wrapper."""

from __future__ import annotations

import csv
import itertools
import math

import pytest
import torch

import operators
import solvers
from operators.models.stagger import shuffle, unshuffle
from solvers.errors import InputError
from training.cli import main

SMALL_FNO = {"name": "fno", "hyperparameters": {"modes": 4, "width": 8, "layers": 1}}
SMALL_UNET = {"name": "unet", "hyperparameters": {"hidden": 4, "multipliers": [1, 2], "kernel_size": 3}}


# --- the residual --------------------------------------------------------------------------------
def ks_state() -> tuple[solvers.KuramotoSivashinsky1D, torch.Tensor]:
    ks = solvers.KuramotoSivashinsky1D(n=64, length=22.0, dt=0.01)
    x = ks.grid
    return ks, ks.step((torch.cos(2 * math.pi * x / 22) + 0.1 * torch.sin(4 * math.pi * x / 22))[None], 100)


@pytest.mark.parametrize("scheme", ["exponential", "crank-nicolson"])
def test_the_residual_of_solver_trajectories_shrinks_at_second_order_and_noise_has_a_large_one(scheme):
    ks, u = ks_state()
    residuals = []
    for dt in (0.2, 0.1, 0.05):
        following = solvers.KuramotoSivashinsky1D(n=64, length=22.0, dt=dt / 50).step(u, 50)
        residuals.append(float(ks.residual(u, following, dt, scheme).norm()))
    assert all(a / b > 3.0 for a, b in itertools.pairwise(residuals)), residuals  # ~4: second order
    noisy = float(ks.residual(u, u + torch.randn_like(u), 0.1, scheme).norm())
    assert noisy > 1e3 * residuals[1]


def test_navier_stokes_residual_per_sample_steps_and_gradients():
    ns = solvers.NavierStokes2D(n=16, length=1.0, dt=1e-3, nu=1e-3)
    w = ns.step(torch.randn(2, 16, 16, dtype=torch.float64), 20)
    following = solvers.NavierStokes2D(n=16, length=1.0, dt=1e-3, nu=1e-3).step(w, 10)
    per_sample = ns.residual(w, following, torch.full((2,), 0.01, dtype=torch.float64))
    torch.testing.assert_close(per_sample, ns.residual(w, following, 0.01))
    guess = following.float().clone().requires_grad_(True)
    ns.residual(w.float(), guess, 0.01).square().mean().backward()
    assert guess.grad is not None and torch.isfinite(guess.grad).all() and guess.grad.abs().sum() > 0
    with pytest.raises(InputError, match="u_next"):
        ns.residual(w, torch.zeros(2, 8, 8), 0.01)


# --- the stagger wrapper -------------------------------------------------------------------------
@pytest.mark.parametrize("ndim, shape", [(1, (2, 3, 24)), (2, (2, 3, 12, 12))])
def test_shuffle_and_unshuffle_are_exact_inverses_and_pick_the_staggered_subgrids(ndim, shape):
    x = torch.randn(*shape)
    for s in (1, 2, 3, 4):
        if shape[-1] % s:
            continue
        sub = unshuffle(x, s, ndim)
        assert torch.equal(shuffle(sub, s, ndim), x)
        last = s**ndim - 1  # sub-grid (s-1, ..., s-1) of channel 2
        expected = x[:, 2, s - 1 :: s] if ndim == 1 else x[:, 2, s - 1 :: s, s - 1 :: s]
        assert torch.equal(sub[:, 2 * s**ndim + last], expected)


def test_a_stagger_with_one_subgrid_and_one_level_is_its_inner_model():
    stagger = operators.build("stagger", in_channels=1, out_channels=1, ndim=2, inner=SMALL_FNO, space=1, grid_size=16)
    inner = operators.build("fno", in_channels=1, out_channels=1, ndim=2, grid_size=16, **SMALL_FNO["hyperparameters"])
    inner.load_state_dict({k.removeprefix("inner."): v for k, v in stagger.state_dict().items()})
    x = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(stagger(x), inner(x), rtol=0, atol=0)


@pytest.mark.parametrize("weights, inner", [("shared", SMALL_FNO), ("separate", SMALL_UNET)])
@pytest.mark.parametrize("view", ["all", "own"])
def test_stagger_shapes_gradients_and_round_trip(weights, inner, view, tmp_path):
    model = operators.build(
        "stagger",
        in_channels=1,
        out_channels=2,
        ndim=2,
        inner=inner,
        space=2,
        time=2,
        weights=weights,
        view=view,
        grid_size=16,
    )
    x = torch.randn(3, 1, 16, 16)
    out = model(x)
    assert out.shape == (3, 2, 16, 16)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    surrogate = operators.Surrogate(model, torch.zeros(1), torch.ones(1), 1, 2, {"grid": [16, 16], "dt": 1.0})
    loaded = operators.load(surrogate.save(tmp_path / "s.pt"))
    torch.testing.assert_close(loaded.predict(x[:, None], 2), surrogate.predict(x[:, None], 2))


@pytest.mark.parametrize("weights, inner", [("shared", SMALL_FNO), ("separate", SMALL_UNET)])
def test_each_subtask_alone_is_its_piece_of_the_reassembled_output(weights, inner):
    model = operators.build(
        "stagger", in_channels=1, out_channels=2, ndim=2, inner=inner, space=2, time=2, weights=weights, grid_size=16
    )
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        pieces = unshuffle(model(x).reshape(3 * 2, 1, 16, 16), 2, 2).reshape(3, 2, 4, 8, 8)  # (B, level, subgrid, ...)
        for task in (0, 3, 6):
            level, subgrid = divmod(task, 4)
            torch.testing.assert_close(model.subtask(x, task)[:, 0], pieces[:, level, subgrid])
    with pytest.raises(InputError, match="task must be"):
        model.subtask(x, 8)


@pytest.mark.parametrize("ndim, shape", [(1, (2, 1, 16)), (2, (2, 1, 16, 16))])
def test_each_subtask_sees_the_field_in_its_own_subgrids_frame(ndim, shape):
    """Centred frames: sub-task g's view starts with sub-grid g (then its neighbours in the same order as sub-grid
    0's view has them), so one shared network solves the same problem for every sub-grid."""
    model = operators.build(
        "stagger", in_channels=1, out_channels=1, ndim=ndim, inner=SMALL_FNO, space=2, grid_size=shape[-1], centred=True
    )
    fixed = operators.build(
        "stagger", in_channels=1, out_channels=1, ndim=ndim, inner=SMALL_FNO, space=2, grid_size=shape[-1]
    )
    x = torch.randn(*shape)
    views, plain = model._task_inputs(x), fixed._task_inputs(x)
    subgrids = 2**ndim
    for g in range(subgrids):
        torch.testing.assert_close(views[g, :, 0], unshuffle(x, 2, ndim)[:, g], rtol=0, atol=0)
        torch.testing.assert_close(plain[g, :, :subgrids], unshuffle(x, 2, ndim), rtol=0, atol=0)
    torch.testing.assert_close(views[:, :, subgrids:], plain[:, :, subgrids:])  # the same embedding codes
    shifted = torch.roll(x, -1, dims=-1)  # sub-grid 1 (offset 1 along the last axis) of x is sub-grid 0 of this
    torch.testing.assert_close(views[1, :, :subgrids], unshuffle(shifted, 2, ndim), rtol=0, atol=0)


def test_coordinate_positions_are_the_periodic_coordinates_of_each_subtasks_own_points():
    model = operators.build(
        "stagger",
        in_channels=1,
        out_channels=1,
        ndim=2,
        inner=SMALL_FNO,
        space=2,
        grid_size=16,
        centred=True,
        positions="coordinates",
    )
    x = torch.randn(2, 1, 16, 16)
    views = model._task_inputs(x)  # (tasks, batch, 4 sub-grids + 4 coordinates + level, 8, 8)
    assert views.shape == (4, 2, 9, 8, 8)
    fine = 2 * torch.pi * torch.arange(16) / 16
    for task in range(4):
        i, j = divmod(task, 2)  # sub-grid u[..., i::2, j::2]
        rows, columns = fine[i::2], fine[j::2]
        torch.testing.assert_close(views[task, 0, 4], torch.sin(rows)[:, None].expand(8, 8))
        torch.testing.assert_close(views[task, 0, 7], torch.cos(columns)[None, :].expand(8, 8))
    assert model(x).shape == (2, 1, 16, 16)
    with pytest.raises(InputError, match="positions must be one of offsets, coordinates"):
        operators.build(
            "stagger", in_channels=1, out_channels=1, ndim=2, inner=SMALL_FNO, grid_size=16, positions="grid"
        )


def test_stagger_options_are_checked_and_a_coarse_subsolver_runs_alone():
    with pytest.raises(InputError, match="vmap"):
        operators.build(
            "stagger", in_channels=1, out_channels=1, ndim=2, inner=SMALL_FNO, weights="separate", grid_size=16
        )
    with pytest.raises(InputError, match="divisible"):
        operators.build("stagger", in_channels=1, out_channels=1, ndim=1, inner=SMALL_FNO, space=3, grid_size=16)
    model = operators.build(
        "stagger", in_channels=1, out_channels=1, ndim=1, inner=SMALL_FNO, space=4, view="own", grid_size=64
    )
    assert model(torch.randn(2, 1, 64)).shape == (2, 1, 64)
    assert model.coarse_step(torch.randn(2, 1, 16)).shape == (2, 1, 16)
    with pytest.raises(InputError, match="coarse_step"):
        operators.build("stagger", in_channels=1, out_channels=1, ndim=1, inner=SMALL_FNO, grid_size=64).coarse_step(
            torch.randn(2, 1, 32)
        )


# --- physics-constrained training from the command line -----------------------------------------
PHYSICS = [
    "--quiet",
    "--set",
    "task.kind=physics",
    "--set",
    "data.recipe=burgers-fno-tiny",
    "--set",
    "data.samples=64",
    "--set",
    "task.curriculum_epochs=2",
    "--set",
    "optim.lr=3.0e-3",
]


def metrics(run) -> list[dict]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_training_from_initial_conditions_alone_lowers_the_residual_and_the_error(tmp_path):
    run = tmp_path / "physics"
    hyper = "model.hyperparameters={modes: 16, width: 32, layers: 3}"
    assert main(["train", "--model", "fno", "--out", str(run), "--epochs", "8", *PHYSICS, "--set", hyper]) == 0
    rows = metrics(run)
    first, last = rows[0], rows[-1]
    assert float(last["val_residual"]) < 0.5 * float(first["val_residual"])
    assert float(last["val_relative_l2"]) < float(first["val_relative_l2"])
    assert isinstance(operators.load(run), operators.Surrogate)


@pytest.mark.parametrize("loss", ["data", "mixed"])
def test_supervised_and_mixed_losses_and_a_stagger_with_two_time_levels_train(loss, tmp_path):
    hyper = "model.hyperparameters={inner: {name: fno, hyperparameters: {modes: 8, width: 16}}, space: 2, time: 2}"
    run = tmp_path / loss
    assert (
        main(
            [
                "train",
                "--model",
                "stagger",
                "--out",
                str(run),
                "--epochs",
                "2",
                *PHYSICS,
                "--set",
                hyper,
                "--set",
                f"task.loss={loss}",
                "--set",
                "task.horizon=2",
                "--set",
                "task.replay=32",
            ]
        )
        == 0
    )
    assert operators.load(run).horizon == 2 and len(metrics(run)) == 2


def test_bad_physics_options_are_refused(tmp_path, capsys):
    assert main(["train", "--model", "fno", "--out", str(tmp_path / "r"), *PHYSICS, "--set", "task.scheme=euler"]) == 2
    assert "task.scheme" in capsys.readouterr().err


def test_a_recipe_file_stands_for_a_preset(tmp_path):
    import dataclasses

    import pde_data
    from pde_data.generation import resolve_recipe

    recipe = dataclasses.replace(pde_data.preset("burgers-fno-tiny"), total_frames=21)
    path = tmp_path / "recipe.json"
    path.write_text(recipe.to_json())
    assert resolve_recipe(str(path)) == recipe
    with pytest.raises(InputError, match="no recipe file"):
        resolve_recipe(str(tmp_path / "missing.json"))


@pytest.mark.parametrize("scheme", ["exponential", "crank-nicolson"])
def test_laminar_kolmogorov_flow_is_a_steady_state_of_the_solver_and_of_the_residual(scheme):
    from pde_data.equations import FORCINGS
    from solvers.analytic import kolmogorov_steady_state

    n, length, nu = 32, 1.0, 0.05
    probe = solvers.NavierStokes2D(n=n, length=length, dt=1e-3, nu=nu)
    x, y = probe.grid
    forced = solvers.NavierStokes2D(
        n=n, length=length, dt=1e-2, nu=nu, forcing=FORCINGS["kolmogorov"].build(x, y, length)
    )
    steady = kolmogorov_steady_state(y, length, nu)[None]
    torch.testing.assert_close(forced.step(steady, 20), steady)
    assert float(forced.residual(steady, steady, 0.1, scheme).abs().max()) < 1e-9 * float(steady.abs().max()) + 1e-9
    perturbed = steady + 0.01 * torch.randn_like(steady)
    assert float(forced.residual(steady, perturbed, 0.1, scheme).abs().max()) > 1e-3


def test_the_physics_example_draws_enough_initial_states_per_epoch_by_default():
    """The README's example trained on the tiny recipe's 16 states per epoch and gave 95-98 % rollout error;
    128 an epoch (10 epochs) give 13.7 % on unseen Burgers trajectories (README, issue note)."""
    from training.config import load_config
    from training.data import INITIAL_STATES_PER_EPOCH
    from training.tasks import build_task

    settings = ["task.kind=physics", "data.recipe=burgers-fno-tiny"]
    task = build_task(load_config(None, settings))
    assert len(task.train_set) == INITIAL_STATES_PER_EPOCH == 128 and len(task.val_set) == 16
    assert len(build_task(load_config(None, [*settings, "data.samples=24"])).train_set) == 24
