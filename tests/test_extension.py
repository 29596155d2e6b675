"""Adding to pdeop from outside the package takes one place: a model registered with its bench setup, and
a PDE (its solver, its description and a preset), are each generated, trained and benched end to end
from this file alone; every built-in model declares its bench setup (or why it has none); and the
command line's help starts without loading torch or the models. (Tasks from outside: custom_tasks.py.)"""

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

import operators
import pde_data
import pde_data.recipes as presets_module
from operators import registry
from operators.registry import BenchSetup
from pde_data.equations import EQUATIONS, Equation
from solvers.catalog import SOLVERS
from solvers.convection import Convection1D
from solvers.errors import InputError
from training.bench import benchable, setup_of
from training.cli import main


class PointwiseResidual(nn.Module):
    """The toy model: the input plus a learned 1-wide convolution of it."""

    def __init__(self, in_channels: int, out_channels: int, ndim: int, width: int):
        super().__init__()
        conv = nn.Conv2d if ndim == 2 else nn.Conv1d
        self.net = nn.Sequential(conv(in_channels, width, 1), nn.GELU(), conv(width, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -self.net[-1].out_channels :] + self.net(x)


@pytest.fixture
def scratch_registry():
    """Registrations made in a test (models, solvers, equations, presets) are forgotten after it."""
    tables = [registry._BUILDERS, registry._BENCH, SOLVERS, EQUATIONS, presets_module._PRESETS]
    before = [set(table) for table in tables]
    yield
    for table, keys in zip(tables, before, strict=True):
        for key in set(table) - keys:
            del table[key]


class DriftingBurgers(Convection1D):
    """The toy PDE: ``u_t + u u_x + c u_x = nu u_xx``, periodic (Burgers carried along at speed ``c``)."""

    def __init__(self, n: int = 64, length: float = 1.0, dt: float = 1e-3, nu: float = 0.05, c: float = 1.0, **options):
        self.nu, self.c = nu, c
        super().__init__(n=n, length=length, dt=dt, **options)

    def linear_symbol(self) -> torch.Tensor:
        return -self.nu * self.squared_wavenumber - 1j * self.c * self.derivative_wavenumbers[0]


def test_every_built_in_model_declares_its_bench_setup_or_why_it_has_none():
    for name in operators.available():
        setup = operators.bench_setup(name)
        assert isinstance(setup, (BenchSetup, str)), f"{name} declares no bench setup where it registers"
    assert benchable() == [n for n in operators.available() if isinstance(operators.bench_setup(n), BenchSetup)]
    assert "trajectory-autoencoder" not in benchable() and "fno" in benchable()
    with pytest.raises(InputError, match="trajectory-autoencoder \\(the autoencoder stage of latent-dit"):
        setup_of("trajectory-autoencoder")


def test_a_model_registered_outside_the_package_is_benched_end_to_end(scratch_registry, tmp_path):
    @operators.register("toy-pointwise", bench=BenchSetup(small={"width": 8}))
    def build_toy(in_channels: int, out_channels: int, ndim: int = 2, width: int = 16) -> nn.Module:
        return PointwiseResidual(in_channels, out_channels, ndim, width)

    @operators.register("toy-unbenched")
    def build_unbenched(in_channels: int, out_channels: int, ndim: int = 2) -> nn.Module:
        return PointwiseResidual(in_channels, out_channels, ndim, 4)

    assert "toy-pointwise" in benchable() and "toy-unbenched" not in benchable()
    with pytest.raises(InputError, match="toy-unbenched \\(it declares no bench setup\\)"):
        setup_of("toy-unbenched")
    out = tmp_path / "bench"
    assert main(["bench", "ns-1e-3", "--tier", "tiny", "--models", "toy-pointwise", "--out", str(out), "--quiet"]) == 0
    (row,) = json.loads((out / "leaderboard.json").read_text())["rows"]
    config = (out / "models" / "toy-pointwise" / "run" / "config.yaml").read_text()
    assert row["model"] == "toy-pointwise" and "width: 4" in config  # the setup's width, halved by the tiny tier
    assert 0 < row["relative_l2_rollout"] < 10


def test_a_pde_added_outside_the_package_is_generated_trained_and_benched(scratch_registry, tmp_path):
    import solvers

    solvers.register_solver("drifting-burgers", DriftingBurgers)
    pde_data.register_equation(
        Equation(
            "drifting-burgers", DriftingBurgers, "Burgers equation with drift", "u_t + u u_x + c u_x = nu u_xx", "u"
        )
    )
    pde_data.register_preset(
        pde_data.Recipe(
            name="drifting-burgers-toy",
            equation="drifting-burgers",
            coefficients={"nu": 0.05, "c": 1.0},
            length=1.0,
            initial_condition={"kind": "grf", "alpha": 2.0, "tau": 5.0, "sigma": 25.0},
            solver_resolution=64,
            resolution=32,
            max_dt=1e-2,
            t_end=0.5,
            total_frames=6,
            samples={"train": 8, "valid": 2, "test": 2},
            description="a toy PDE defined in a test",
        )
    )
    # the solver is right before anything trains on it: a pure drift (nu = 0, no u^2 term at small u)
    # carries a small sine along at speed c
    solver = DriftingBurgers(n=64, length=1.0, dt=1e-3, nu=0.0, c=1.0, dtype=torch.float64)
    x = solver.grid
    moved = solver.solve(1e-6 * torch.sin(2 * torch.pi * x)[None], [0.0, 0.25])[0, -1]
    torch.testing.assert_close(moved, 1e-6 * torch.sin(2 * torch.pi * (x - 0.25)), rtol=0, atol=1e-10)

    data = pde_data.generate("drifting-burgers-toy", tmp_path / "toy.h5", 8, progress=False)
    assert pde_data.open(data)["u"].shape == (8, 6, 32)
    out = tmp_path / "bench"
    assert (
        main(["bench", "drifting-burgers-toy", "--tier", "tiny", "--models", "fno", "--out", str(out), "--quiet"]) == 0
    )
    (row,) = json.loads((out / "leaderboard.json").read_text())["rows"]
    assert row["model"] == "fno" and 0 < row["relative_l2_rollout"] < 10 and row["solver_seconds_per_trajectory"] > 0


def run_fresh(code: str, heavy: str) -> str:
    """The output of ``code`` run in a fresh interpreter, which then prints the loaded modules that ``heavy``
    (a Python expression over a module name ``m``) selects after ``LOADED``."""
    probe = f"{code}\nimport sys\nprint('LOADED', [m for m in sys.modules if {heavy}])\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_help_and_light_commands_start_without_torch():
    code = (
        "from training.cli import main\n"
        "for argv in (['--help'], ['merge', '--help'], ['info', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass"
    )
    out = run_fresh(code, "m in ('torch', 'neuralop', 'operators', 'pde_data')")
    assert "LOADED []" in out
    assert "merge     join shard files" in out  # the top-level help lists every command


def test_a_run_config_is_read_and_checked_without_torch_or_the_tasks(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model: {name: mgno}\ntask: {kind: next-step, loss: hs, rollout_steps: 2}\noptim: {lr: 3e-4}\n")
    code = (
        "from training.config import load_config\nfrom solvers.errors import InputError\n"
        f"config = load_config({str(config)!r})\n"
        "assert config.task.loss == 'hs' and config.task.rollout_steps == 2 and config.optim.lr == 3e-4\n"
        "for sets in (['task.kind=operator'], ['task.kind=physics', 'data.recipe=burgers-fno-tiny'],\n"
        "             ['task.kind=autoencoder', 'model.name=trajectory-autoencoder']):\n"
        "    load_config(None, sets)\n"
        "for sets in (['task.rollout_steps=0'], ['model.name=latent-dit'], ['task.kind=nope']):\n"
        "    try:\n        load_config(None, sets)\n    except InputError as error:\n        print('REFUSED', error)\n"
        "import pde_data"
    )
    out = run_fresh(code, "m == 'torch' or m.startswith(('training.tasks.base', 'operators'))")
    assert "LOADED []" in out
    assert "task.rollout_steps must be a positive integer, got 0" in out
    assert "model.name = latent-dit trains with task.kind = latent-diffusion" in out
    assert "task.kind = 'nope' is not a registered task; known: autoencoder, latent-diffusion" in out


def test_a_forcing_on_an_unforced_equation_and_a_pdeop_file_as_a_suite_are_refused(tmp_path):
    import dataclasses

    from training.bench import Bench

    with pytest.raises(InputError, match="the burgers solver takes no forcing field"):
        dataclasses.replace(pde_data.preset("burgers-fno-tiny"), forcing="fno").check()
    data = pde_data.generate("burgers-fno-tiny", tmp_path / "b.h5", 4, progress=False)
    with pytest.raises(InputError, match="is a pdeop file: bench the preset it was generated from"):
        Bench(str(data), tmp_path / "bench")
