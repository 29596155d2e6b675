"""Observation models, the semilinear observer, the assimilation task and its commands."""

from __future__ import annotations

import json
import math

import pytest
import torch

import operators
import pde_data
from operators.predictors.observer import Observer
from pde_data.observations import ObservationModel, read_observations
from solvers.errors import InputError
from training.cli import main

SMALL_FNO = {"name": "fno", "hyperparameters": {"modes": 6, "width": 8, "layers": 1}}


def observer(**changes) -> torch.nn.Module:
    hyper = {"inner": SMALL_FNO, "gain_network": SMALL_FNO, **changes}
    return operators.build("semilinear-observer", in_channels=1, out_channels=1, ndim=1, grid_size=32, **hyper)


def zero_forecast(model: torch.nn.Module) -> torch.nn.Module:
    """``F = 0``: every parameter of the forecast network set to zero."""
    with torch.no_grad():
        for parameter in model.forecast_network.parameters():
            parameter.zero_()
    return model


# --- observations --------------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_observations_and_another_trajectory_others():
    states = torch.randn(6, 2, 16, 16, dtype=torch.float64)
    model = ObservationModel(sensors=0.25, layout="random-per-trajectory", noise=0.1, seed=3)
    first, again, other = model.observe(states, 4), model.observe(states, 4), model.observe(states, 5)
    torch.testing.assert_close(first[0], again[0])
    torch.testing.assert_close(first[1], again[1])
    assert not torch.equal(first[1], other[1])
    fixed = ObservationModel(sensors=0.25, layout="random", seed=3)
    assert torch.equal(fixed.observe(states, 4)[1], fixed.observe(states, 5)[1])  # one sensor set per dataset


def test_sensor_fraction_grid_layout_times_and_noise_scale():
    states = torch.randn(8, 1, 64, dtype=torch.float64) * 3.0
    values, mask = ObservationModel(sensors=0.25, every=3, noise=0.0).observe(states, 0)
    assert mask.shape == (8, 1, 64) and mask[0].sum() == 16  # a quarter of the points
    assert [bool(mask[t].any()) for t in range(8)] == [t % 3 == 0 for t in range(8)]
    torch.testing.assert_close(values, states * mask)  # noiseless: the state where observed, zero elsewhere
    _, grid = ObservationModel(sensors=0.25, layout="grid").observe(states, 0)
    assert torch.equal(grid[0, 0].nonzero().flatten(), torch.arange(0, 64, 4))
    noisy, mask = ObservationModel(sensors=1.0, noise=0.1, noise_kind="relative").observe(states, 0)
    relative = (noisy - states).std() / states.std()
    assert 0.08 < float(relative) < 0.12
    _, irregular = ObservationModel(rate=0.5, seed=1).observe(torch.randn(400, 1, 8), 0)
    assert 0.4 < float(irregular.flatten(1).amax(dim=1).mean()) < 0.6  # frames observed


@pytest.mark.parametrize(
    "options, message",
    [
        ({"sensors": 0.0}, "sensors"),
        ({"noise": -1.0}, "noise"),
        ({"every": 0}, "every"),
        ({"rate": 2.0}, "rate"),
        ({"layout": "ring"}, "layout"),
    ],
)
def test_bad_observation_settings_are_refused(options, message):
    with pytest.raises(InputError, match=message):
        ObservationModel(**options)


# --- the observer --------------------------------------------------------------------------------
def test_identity_gain_and_observation_return_complete_noiseless_observations():
    model = observer(gain="identity", observation="identity")
    truth = torch.randn(2, 4, 1, 32)
    states, _ = model(torch.zeros(2, 1, 32), truth, torch.ones(2, 4, 1, 32))
    torch.testing.assert_close(states, truth)


def test_without_observations_the_observer_is_its_forecast():
    model = observer()
    u0 = torch.randn(3, 1, 32)
    states, _ = model(u0, torch.zeros(3, 4, 1, 32), torch.zeros(3, 4, 1, 32))
    expected, u = [u0], u0
    for _ in range(3):
        u = model.forecast(u)
        expected.append(u)
    torch.testing.assert_close(states, torch.stack(expected, dim=1))


def test_the_observer_forecasts_a_large_batch_in_groups_with_the_same_results():
    torch.manual_seed(0)
    predictor = Observer(observer())
    u0 = torch.randn(5, 1, 1, 32)
    assert predictor.trajectories_per_call(u0) == 5  # 32 points: the whole batch in one call on the CPU
    calls = []
    predictor.model.forecast_network.register_forward_hook(lambda m, inputs, out: calls.append(len(inputs[0])))
    grouped = predictor.fast_inference(call_batch=2).predict(u0, 3)
    assert sorted(calls) == [1, 1, 1, 2, 2, 2, 2, 2, 2]  # three groups (side by side with several threads)
    whole = predictor.fast_inference(call_batch=None).predict(u0, 3)
    torch.testing.assert_close(grouped, whole)
    with pytest.raises(InputError, match="call_batch must be a positive integer"):
        predictor.fast_inference(call_batch=0)


def test_corrections_happen_only_at_sensors_and_observed_frames():
    model = observer(gain="identity", observation="identity")
    truth = torch.randn(1, 3, 1, 32)
    mask = torch.zeros(1, 3, 1, 32)
    mask[0, 1, 0, ::4] = 1  # frame 1 only, every fourth point
    states, _ = model(torch.zeros(1, 1, 32), truth * mask, mask)
    forecast = model.forecast(torch.zeros(1, 1, 32))
    torch.testing.assert_close(states[0, 1, 0, ::4], truth[0, 1, 0, ::4])
    unobserved = torch.ones(32, dtype=torch.bool)
    unobserved[::4] = False
    torch.testing.assert_close(states[0, 1, 0, unobserved], forecast[0, 0, unobserved])
    torch.testing.assert_close(states[0, 0], torch.zeros(1, 32))  # frame 0: nothing observed, the guess stays


def test_exact_linear_part_matches_the_analytic_linear_kdv_solution():
    """``u_t = -beta u_xxx``: ``cos(k x)`` becomes ``cos(k x + beta k^3 t)``; with ``F = 0`` the
    forecast is the exact linear propagation."""
    length, dt, beta = 2 * math.pi, 0.3, 0.7
    model = zero_forecast(
        observer(linear="exact", equation="kdv", length=length, dt=dt, coefficients={"alpha": 1.0, "beta": beta})
    )
    x = torch.arange(32, dtype=torch.float64) * length / 32
    k = 3.0
    u0 = torch.cos(k * x)[None, None].float()
    expected = torch.cos(k * x + beta * k**3 * dt)[None, None].float()
    torch.testing.assert_close(model.forecast(u0), expected, atol=1e-5, rtol=1e-5)
    plain = zero_forecast(observer())
    torch.testing.assert_close(plain.forecast(u0), u0)  # linear="none": u_f = u + F(u)


def test_exact_linear_needs_the_equation():
    with pytest.raises(InputError, match="needs"):
        observer(linear="exact")


# --- training, loading and the commands ----------------------------------------------------------
@pytest.fixture(scope="module")
def ks_data(tmp_path_factory):
    return pde_data.generate("ks-lpsda-tiny", tmp_path_factory.mktemp("ks") / "ks.h5", 24, progress=False)


HYPER = "{inner: {name: fno, hyperparameters: {modes: 8, width: 16, layers: 2}}, gain_network: {name: fno, hyperparameters: {modes: 8, width: 16, layers: 2}}}"
TRAIN = [
    "--model",
    "semilinear-observer",
    "--quiet",
    "--set",
    "task.kind=observer",
    "--set",
    f"model.hyperparameters={HYPER}",
    "--set",
    "data.batch_size=4",
    "--set",
    "train.eval_trajectories=2",
    "--set",
    "task.warmup=6",
    "--set",
    "task.horizon=4",
    "--set",
    "task.sensors=0.5",
    "--set",
    "optim.lr=3.0e-3",
]


@pytest.fixture(scope="module")
def observer_run(ks_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("obs") / "run"
    assert (
        main(["train", "--data", str(ks_data), "--epochs", "15", "--out", str(run), *TRAIN]) == 0
    )  # dense sensors: quick to learn
    return run


def test_a_trained_observer_assimilates_better_than_it_forecasts_from_the_guess(observer_run):
    report = json.loads((observer_run / "evaluation" / "evaluation.json").read_text())
    summary = report["summary"]
    assert summary["assimilation"]["during_window"] < 0.8 * summary["forecast_from_guess"]["during_window"]
    loaded = operators.load(observer_run)
    assert isinstance(loaded, Observer) and loaded.predict(torch.randn(2, 1, 1, 64), 3).shape == (2, 3, 1, 64)


def test_observe_assimilate_and_evaluate_from_the_command_line(observer_run, ks_data, tmp_path, capsys):
    obs = tmp_path / "obs.h5"
    assert (
        main(
            [
                "observe",
                str(ks_data),
                "--out",
                str(obs),
                "--sensors",
                "0.25",
                "--noise",
                "0.05",
                "--every",
                "2",
                "--split",
                "test",
            ]
        )
        == 0
    )
    stored = read_observations(obs)
    assert stored["model"].every == 2 and stored["values"].shape[:2] == stored["mask"].shape[:2]
    out = tmp_path / "states.h5"
    assert (
        main(
            [
                "assimilate",
                str(observer_run),
                "--data",
                str(ks_data),
                "--observations",
                str(obs),
                "--out",
                str(out),
                "--steps",
                "3",
            ]
        )
        == 0
    )
    assert pde_data.open(out)["u"].shape[1] == stored["values"].shape[1] + 3
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                str(observer_run),
                "--data",
                str(ks_data),
                "--observations",
                str(obs),
                "--split",
                "test",
                "--out",
                str(tmp_path / "ev"),
            ]
        )
        == 0
    )
    assert "forecast_from_truth" in capsys.readouterr().out


def test_two_observes_into_one_file_do_not_share_a_temporary_file(ks_data, tmp_path):
    """Each writer has a temporary of its own: a concurrent observe's open temporary (held here under the
    fixed name every writer used before, where the second crashed on h5py's lock and removed the first's
    file) neither blocks this one nor is removed by it."""
    import h5py

    from pde_data.observations import write_observations

    out = tmp_path / "obs.h5"
    others = tmp_path / "obs.h5.partial"
    with h5py.File(others, "w"):
        write_observations(ks_data, out, ObservationModel(sensors=0.25), split="test")
    assert others.exists() and read_observations(out)["values"].shape[0] > 0
    with pytest.raises(InputError, match="is an observation file \\(pdeop observe\\), not a dataset"):
        pde_data.open(out)  # as pdeop info, plot, train and evaluate --data read it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obs.h5", "obs.h5.partial"]


def test_assimilation_runs_resume(observer_run, ks_data, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--data", str(ks_data), "--epochs", "1", "--out", str(run), *TRAIN]) == 0
    assert main(["train", "--data", str(ks_data), "--epochs", "2", "--out", str(run), "--resume", *TRAIN]) == 0
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 3  # header and two epochs


def test_an_epoch_passes_over_every_window_of_every_trajectory_once(ks_data):
    """At equal epochs the observer takes as many optimizer steps as a next-step model on the same data
    (one random window per trajectory gave it frames - window + 1 times fewer)."""
    from training.config import load_config
    from training.tasks import build_task

    settings = [
        f"data.path={ks_data}",
        "model.name=semilinear-observer",
        "task.kind=observer",
        "task.warmup=3",
        "task.horizon=2",
    ]
    every = build_task(load_config(None, settings)).train_set
    trajectories = build_task(load_config(None, [*settings, "task.windows=random"])).train_set
    starts = trajectories.frames - 5 + 1
    assert len(every) == len(trajectories) * starts
    item = every[starts + 2]  # the second trajectory's third window
    assert item["start"] == 2 and item["fields"].shape[0] == 5
    torch.testing.assert_close(item["fields"], trajectories[1]["fields"][2:7])
    torch.testing.assert_close(item["time"], trajectories[1]["time"][2:7])
    with pytest.raises(InputError, match=r"task\.windows must be one of all, random"):
        build_task(load_config(None, [*settings, "task.windows=some"]))


def test_the_assimilation_task_needs_the_observer_and_a_long_enough_window(ks_data, tmp_path, capsys):
    assert (
        main(
            [
                "train",
                "--data",
                str(ks_data),
                "--model",
                "fno",
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "a"),
                "--quiet",
                "--set",
                "task.kind=observer",
            ]
        )
        == 2
    )
    assert "semilinear-observer" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--data",
                str(ks_data),
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "b"),
                *TRAIN,
                "--set",
                "task.warmup=30",
            ]
        )
        == 2
    )
    assert "task.warmup + task.horizon" in capsys.readouterr().err


def test_observer_input_is_checked(observer_run):
    loaded = operators.load(observer_run)
    with pytest.raises(InputError, match="mask must have shape"):
        loaded.assimilate(torch.zeros(1, 3, 1, 64), torch.zeros(1, 3, 64))


# --- the classical anchors -----------------------------------------------------------------------
def advection_diffusion(n: int = 16, dt: float = 0.1, speed: float = 1.0, nu: float = 0.05):
    """An exact linear model on the periodic unit interval: ``u_t = -c u_x + nu u_xx`` over ``dt``; and its matrix."""
    k = 2 * math.pi * torch.fft.rfftfreq(n, d=1.0 / n, dtype=torch.float64)
    multiplier = torch.exp((-1j * speed * k - nu * k**2) * dt)

    def advance(states: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(torch.fft.rfft(states.double(), dim=-1) * multiplier, n=n, dim=-1)

    return advance, advance(torch.eye(n, dtype=torch.float64)).T  # column j = M e_j


def test_the_enkf_on_a_linear_problem_matches_the_exact_kalman_filter():
    from solvers.assimilation import ensemble_kalman_filter, periodic_distances

    n, frames, noise = 16, 6, 0.1
    advance, matrix = advection_diffusion(n)
    x = torch.arange(n, dtype=torch.float64) / n
    prior_mean = torch.sin(2 * math.pi * x)
    smoothing = torch.exp(-((periodic_distances((n,), 1.0 / n) / 0.1) ** 2))
    prior_cov = 0.1 * smoothing @ smoothing.T + 1e-6 * torch.eye(n)  # smooth and positive definite
    generator = torch.Generator().manual_seed(0)
    truth = [prior_mean + torch.linalg.cholesky(prior_cov) @ torch.randn(n, generator=generator, dtype=torch.float64)]
    for _ in range(frames - 1):
        truth.append(matrix @ truth[-1])
    mask = torch.zeros(frames, n, dtype=torch.float64)
    mask[:, ::4] = 1  # four sensors, every frame
    values = (torch.stack(truth) + noise * torch.randn(frames, n, generator=generator, dtype=torch.float64)) * mask
    # the exact Kalman filter
    mean, cov, kalman = prior_mean.clone(), prior_cov.clone(), []
    observe = torch.eye(n, dtype=torch.float64)[::4]
    for k in range(frames):
        if k:
            mean, cov = matrix @ mean, matrix @ cov @ matrix.T
        gain = cov @ observe.T @ torch.linalg.inv(observe @ cov @ observe.T + noise**2 * torch.eye(4))
        mean = mean + gain @ (values[k, ::4] - observe @ mean)
        cov = (torch.eye(n) - gain @ observe) @ cov
        kalman.append(mean)
    members = 4000
    ensemble = (
        prior_mean
        + torch.randn(members, n, generator=generator, dtype=torch.float64) @ torch.linalg.cholesky(prior_cov).T
    )
    enkf_mean, final = ensemble_kalman_filter(advance, ensemble, values, mask, noise, generator=generator)
    kalman = torch.stack(kalman)
    assert float((enkf_mean - kalman).norm() / kalman.norm()) < 0.03
    spread = torch.cov(final.T)
    assert float((spread - cov).norm() / cov.norm()) < 0.15


def test_localization_and_inflation_run_and_are_checked():
    from solvers.assimilation import ensemble_kalman_filter, gaspari_cohn, periodic_distances

    advance, _ = advection_diffusion(16)
    taper = gaspari_cohn(periodic_distances((16,), 1 / 16), 0.2)
    assert float(taper[0, 0]) == 1.0 and float(taper[0, 8]) == 0.0
    ensemble, mask = torch.randn(20, 16), torch.zeros(3, 16)
    mask[:, ::2] = 1
    mean, _ = ensemble_kalman_filter(advance, ensemble, torch.randn(3, 16) * mask, mask, 0.1, 1.05, taper)
    assert mean.shape == (3, 16) and torch.isfinite(mean).all()
    with pytest.raises(InputError, match="noise_std"):
        ensemble_kalman_filter(advance, ensemble, torch.zeros(3, 16), mask, 0.0)
    with pytest.raises(InputError, match="values and mask"):
        ensemble_kalman_filter(advance, ensemble, torch.zeros(3, 8), mask, 0.1)


def test_nudging_with_full_relaxation_takes_the_observations_and_without_them_runs_free():
    from solvers.assimilation import nudging

    advance, _ = advection_diffusion(16)
    u0 = torch.randn(16, dtype=torch.float64)
    truth = torch.randn(4, 16, dtype=torch.float64)
    torch.testing.assert_close(nudging(advance, u0, truth, torch.ones(4, 16), 1.0), truth)
    free = nudging(advance, u0, torch.zeros(4, 16), torch.zeros(4, 16))
    torch.testing.assert_close(free[2], advance(advance(u0[None]))[0])


def test_observations_are_refused_for_runs_that_are_not_observers(ks_data, tmp_path, capsys):
    run = tmp_path / "fno"
    assert (
        main(
            [
                "train",
                "--data",
                str(ks_data),
                "--model",
                "fno",
                "--epochs",
                "1",
                "--out",
                str(run),
                "--quiet",
                "--set",
                "model.hyperparameters={modes: 4, width: 8, layers: 1}",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(ks_data), "--observations", "obs.h5"]) == 2
    assert "assimilation runs" in capsys.readouterr().err


def test_observations_of_another_file_and_data_of_another_problem_are_named(observer_run, ks_data, tmp_path, capsys):
    """An observation file made from other data was an IndexError deep in write_predictions, and 2D data given
    to a 1D observer a message about the observations' axes: both now name the files that disagree."""
    other = pde_data.generate("ks-lpsda-tiny", tmp_path / "other.h5", 8, seed=5, progress=False)
    obs = tmp_path / "obs.h5"
    assert main(["observe", str(other), "--out", str(obs), "--sensors", "0.25", "--split", "test"]) == 0
    capsys.readouterr()
    status = main(
        [
            "assimilate",
            str(observer_run),
            "--data",
            str(ks_data),
            "--observations",
            str(obs),
            "--out",
            str(tmp_path / "states.h5"),
        ]
    )
    error = capsys.readouterr().err
    assert status == 2 and "obs.h5 observes other.h5" in error and "pass the --data it was made from" in error
    assert not (tmp_path / "states.h5").exists()
    copy = tmp_path / "copy.h5"  # the same data under another name is the same data
    copy.write_bytes(other.read_bytes())
    assert (
        main(
            [
                "assimilate",
                str(observer_run),
                "--data",
                str(copy),
                "--observations",
                str(obs),
                "--out",
                str(tmp_path / "states.h5"),
            ]
        )
        == 0
    )
    ns = pde_data.generate("ns-fno-1e-3-tiny", tmp_path / "ns.h5", 10, progress=False)
    capsys.readouterr()
    assert main(["evaluate", str(observer_run), "--data", str(ns), "--split", "test"]) == 2
    error = capsys.readouterr().err
    assert f"run {observer_run} was trained on 1D u" in error and "ns.h5 holds 2D vorticity" in error


def test_pdeop_predict_takes_an_observer_as_a_forecaster_from_its_last_state(observer_run, ks_data, tmp_path, capsys):
    import operators

    out = tmp_path / "forecast.h5"
    assert (
        main(
            [
                "predict",
                str(observer_run),
                "--input",
                str(ks_data),
                "--steps",
                "3",
                "--out",
                str(out),
                "--sample",
                "0",
                "--sample",
                "1",
                "--no-solver-timing",
                "--quiet",
            ]
        )
        == 0
    )
    assert "2 trajectories x 3 states" in capsys.readouterr().out
    observer = operators.load(observer_run)
    first = torch.from_numpy(pde_data.open(ks_data)["u"].values[[0, 1], :1]).unsqueeze(2)  # (2, 1, 1, x)
    expected = observer.predict(first, 3)[:, :, 0]
    stored = torch.from_numpy(pde_data.open(out)["u"].values)  # the 3 predicted states of each
    torch.testing.assert_close(stored, expected, rtol=1e-5, atol=1e-5)
    assert (
        main(
            [
                "predict",
                str(observer_run),
                "--input",
                str(ks_data),
                "--steps",
                "1",
                "--out",
                str(tmp_path / "o.h5"),
                "--other-grids",
                "direct",
                "--no-solver-timing",
            ]
        )
        == 2
    )
    assert "--other-grids is for surrogates" in capsys.readouterr().err
