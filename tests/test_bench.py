"""``pdeop bench``: a two-model bench at the tiny tier finishes in seconds with every output, resumes
after an interruption without redoing finished models, records models that cannot run, matches widths
under a parameter budget and scores rollouts made outside pdeop in the same table."""

import json

import pytest

import operators
import training.bench.runner as bench_module
from operators.predictors.call_batches import CPU_CALL_POINTS
from solvers.errors import InputError
from training.bench import Bench, matched_width, score_external
from training.bench.ladder import Rung, rungs, speedup_at_equal_accuracy
from training.bench.leaderboard import write
from training.cli import main
from training.run import train as real_train


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert main(["bench", "ns-1e-3", "--tier", "tiny", "--models", "fno,unet", "--out", str(out), "--quiet"]) == 0
    return out


def test_a_two_model_bench_writes_every_output(two_models):
    out = two_models
    for name in ("leaderboard.md", "leaderboard.json", "error_vs_step.png", "pareto.png", "bench.json"):
        assert (out / name).stat().st_size > 0
    rows = json.loads((out / "leaderboard.json").read_text())["rows"]
    assert sorted(r["model"] for r in rows) == ["fno", "unet"]
    assert [r["relative_l2_rollout"] for r in rows] == sorted(r["relative_l2_rollout"] for r in rows)
    for row in rows:
        assert row["parameters"] > 0 and row["inference_batch"] == 64 and row["rollout_steps"] == 4
        assert row["inference_call_batch"] == CPU_CALL_POINTS // 32**2 == 32  # fast inference splits the batch
        assert row["speedup"] == pytest.approx(
            row["solver_seconds_per_trajectory"] / row["inference_seconds_per_trajectory"]
        )
        assert len(row["relative_l2_per_step"]) == 4 and 0 < row["relative_l2_rollout"] < 10
        assert (out / "models" / row["model"] / "evaluation" / "evaluation.json").is_file()
    reference = json.loads((out / "solver.json").read_text())  # one solver measurement for every row
    assert len(reference) == 1 and len(next(iter(reference.values()))["seconds"]) == 3
    assert len({row["solver_seconds_per_trajectory"] for row in rows}) == 1
    table = (out / "leaderboard.md").read_text()
    assert "| fno | " in table and "Solver: ETDRK4 on 32^2" in table and "Persistence" in table
    assert "trajectories per model call: fno 32, unet 32." in table
    # the solver ladder: one measurement for the rows' horizon, the reference first and nearly exact
    ladders = json.loads((out / "ladder.json").read_text())
    assert list(ladders) == ["from frame 0, 4 x 1 frames, batch 64, cpu"]
    rungs = next(iter(ladders.values()))["rungs"]
    assert rungs[0]["reference"] and rungs[0]["relative_l2_rollout"] < 1e-4 and len(rungs[0]["seconds"]) == 1
    assert max(r["relative_l2_rollout"] for r in rungs if r["stable"]) > 10 * rungs[0]["relative_l2_rollout"]
    for row in rows:
        speedup, rung = speedup_at_equal_accuracy(
            row["relative_l2_rollout"], row["inference_seconds_per_trajectory"], rungs
        )
        assert (
            row["speedup_equal_accuracy"] == pytest.approx(speedup) and row["equal_accuracy_solver"] == rung["solver"]
        )
        assert rung["relative_l2_rollout"] <= row["relative_l2_rollout"] or rung["reference"]
    assert "speed-up at equal accuracy" in table and "Solver ladder (from frame 0" in table and "(reference)" in table


def test_speed_up_at_equal_accuracy_by_hand():
    """The cheapest rung at least as accurate as the model, over the model's time; the reference solve when no
    coarser rung is as accurate; an unstable rung never counts."""
    ladder = [
        {
            "solver": "ref",
            "relative_l2_rollout": 1e-7,
            "seconds_per_trajectory": 10.0,
            "reference": True,
            "stable": True,
        },
        {"solver": "a", "relative_l2_rollout": 0.01, "seconds_per_trajectory": 5.0, "reference": False, "stable": True},
        {"solver": "b", "relative_l2_rollout": 0.1, "seconds_per_trajectory": 2.0, "reference": False, "stable": True},
        {"solver": "c", "relative_l2_rollout": 0.08, "seconds_per_trajectory": 3.0, "reference": False, "stable": True},
        {"solver": "d", "relative_l2_rollout": 0.5, "seconds_per_trajectory": 1.0, "reference": False, "stable": True},
        {
            "solver": "e",
            "relative_l2_rollout": float("inf"),
            "seconds_per_trajectory": 0.1,
            "reference": False,
            "stable": False,
        },
    ]
    assert speedup_at_equal_accuracy(0.2, 0.5, ladder) == (4.0, ladder[2])  # b: 0.1 <= 0.2 at 2 s
    assert speedup_at_equal_accuracy(0.09, 0.5, ladder) == (6.0, ladder[3])  # c: the cheapest below 0.09
    assert speedup_at_equal_accuracy(0.6, 0.5, ladder) == (2.0, ladder[4])
    assert speedup_at_equal_accuracy(1e-3, 0.5, ladder) == (20.0, ladder[0])  # none as accurate: the reference
    assert speedup_at_equal_accuracy(0.2, None, ladder) == (None, None)


def test_the_ladder_coarsens_the_grid_and_lengthens_the_step():
    import dataclasses

    import pde_data

    recipe = dataclasses.replace(
        pde_data.preset("ns-fno-1e-3"), solver_resolution=64, max_dt=1e-2, t_end=10.0, total_frames=11
    )
    ladder = rungs(recipe)
    assert ladder[0] == Rung(64, 100) and {r.grid for r in ladder} == {64, 32, 16, 8}
    assert sorted({r.substeps for r in ladder}, reverse=True) == [100, 50, 25, 13, 7, 4, 2, 1]
    assert Rung(32, 13).recipe(recipe).substeps() == 13 and Rung(32, 13).recipe(recipe).solver_resolution == 32


def test_an_interrupted_bench_resumes_without_redoing_finished_models(tmp_path, monkeypatch):
    real, calls = Bench.run_model, []

    def interrupted(self, model, data, target=None):
        calls.append(model)
        if model == "unet":
            raise KeyboardInterrupt
        return real(self, model, data, target)

    monkeypatch.setattr(Bench, "run_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Bench("ns-1e-3", tmp_path, "tiny", progress=False).run(["fno", "unet"])
    finished = tmp_path / "models" / "fno" / "result.json"
    stamp = finished.stat().st_mtime_ns
    monkeypatch.setattr(Bench, "run_model", real)
    trained = []
    monkeypatch.setattr(
        bench_module, "train", lambda config, run, **kw: trained.append(run) or real_train(config, run, **kw)
    )
    results = Bench("ns-1e-3", tmp_path, "tiny", progress=False).run(["fno", "unet"])
    assert [r["model"] for r in results] == ["fno", "unet"] and finished.stat().st_mtime_ns == stamp
    assert trained == [tmp_path / "models" / "unet" / "run"]  # only the unfinished model trained


def test_retime_measures_the_finished_models_again_and_trains_nothing(two_models, tmp_path, monkeypatch, capsys):
    """Benches trained side by side are timed again alone: scores kept, timings and the solver measured anew."""
    import shutil

    out = tmp_path / "bench"
    shutil.copytree(two_models, out)
    before = {r["model"]: r for r in json.loads((out / "leaderboard.json").read_text())["rows"]}
    horizon = next(iter(json.loads((out / "solver.json").read_text())))
    other = {"seconds_per_trajectory": 2.0, "solver": "kept"}  # another horizon's (a model not retimed now)
    stale = {horizon: {"seconds_per_trajectory": 1e9}, "7 frames, batch 64, cpu": other}
    (out / "solver.json").write_text(json.dumps(stale))
    monkeypatch.setattr(bench_module, "train", lambda *a, **k: pytest.fail("retime must not train"))
    argv = ["bench", "ns-1e-3", "--tier", "tiny", "--models", "fno,unet,vit", "--out", str(out), "--retime"]
    assert main(argv) == 0
    assert "vit: not finished" in capsys.readouterr().out
    rows = {r["model"]: r for r in json.loads((out / "leaderboard.json").read_text())["rows"]}
    assert sorted(rows) == ["fno", "unet"]
    for name, row in rows.items():
        assert row["retimed"] and row["relative_l2_rollout"] == before[name]["relative_l2_rollout"]
        assert row["solver_seconds_per_trajectory"] < 1e9  # the stale reference was measured again
    solver = json.loads((out / "solver.json").read_text())
    assert solver["7 frames, batch 64, cpu"] == other and (out / "ladder.json").is_file()


def test_retime_with_keep_solver_times_the_models_only(two_models, tmp_path, monkeypatch):
    import shutil

    out = tmp_path / "bench"
    shutil.copytree(two_models, out)
    stored = json.loads((out / "solver.json").read_text())
    horizon = next(iter(stored))
    stored[horizon]["seconds_per_trajectory"] = 123.0  # as if measured alone before: kept, not measured
    (out / "solver.json").write_text(json.dumps(stored))
    monkeypatch.setattr(bench_module, "run_ladder", lambda *a, **k: pytest.fail("the ladder must not be rerun"))
    argv = ["bench", "ns-1e-3", "--tier", "tiny", "--models", "fno", "--out", str(out), "--retime", "--keep-solver"]
    assert main(argv) == 0
    row = json.loads((out / "models" / "fno" / "result.json").read_text())
    assert row["retimed"] and row["solver_seconds_per_trajectory"] == 123.0
    assert main(["bench", "ns-1e-3", "--tier", "tiny", "--out", str(out), "--keep-solver"]) != 0


def test_models_that_cannot_run_on_a_suite_are_listed_with_the_reason(tmp_path):
    results = Bench("burgers", tmp_path, "tiny", progress=False).run(["fno", "vit"])
    assert [r["model"] for r in results] == ["fno"]
    write(tmp_path)
    assert "Not run: vit: the ViT is 2D only" in (tmp_path / "leaderboard.md").read_text()


def test_parameter_budget_matches_widths(tmp_path):
    bench = Bench("ns-1e-3", tmp_path, "tiny", budget="parameters", budget_value=200_000, progress=False)
    data = bench.data()
    for model, key in (("fno", "width"), ("unet", "hidden")):
        config = bench.config(model, data)
        width = matched_width(config, key, 200_000)
        counts = [
            bench_module.count_parameters(bench.config(model, data, [f"model.hyperparameters.{key}={w}"]))
            for w in (width - 1, width, width + 1)
        ]
        assert abs(counts[1] - 200_000) <= min(abs(c - 200_000) for c in counts)


def test_external_predictions_join_the_table(two_models, tmp_path):
    data = next((two_models / "data").glob("*.h5"))
    predictions = tmp_path / "outside.h5"
    assert (
        main(
            [
                "predict",
                str(two_models / "models" / "fno" / "run"),
                "--input",
                str(data),
                "--sample",
                "8",
                "--sample",
                "9",
                "--steps",
                "4",
                "--out",
                str(predictions),
                "--no-solver-timing",
            ]
        )
        == 0
    )
    bench = Bench("ns-1e-3", two_models, "tiny", progress=False)
    row = score_external(bench, predictions)
    assert row["model"].endswith("(external: outside.h5)") and row["relative_l2_rollout"] > 0
    write(two_models)
    assert "(external: outside.h5)" in (two_models / "leaderboard.md").read_text()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "nope", "--out", "x"], "unknown suite 'nope'"),
        (
            ["bench", "ks", "--models", "trajectory-autoencoder", "--tier", "tiny", "--out", "x"],
            "benched inside its row",
        ),
        (["bench", "ks", "--budget", "seconds=abc", "--out", "x"], "must be a number"),
        (["bench", "ks", "--budget", "hours", "--out", "x"], "unknown budget 'hours'"),
    ],
)
def test_bad_bench_arguments_get_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_bad_predictions_are_refused_before_any_training(tmp_path, monkeypatch, capsys):
    junk = tmp_path / "outside.h5"
    junk.write_text("not HDF5")
    monkeypatch.setattr(Bench, "run", lambda *a, **k: pytest.fail("trained before checking --predictions"))
    argv = ["bench", "ks", "--tier", "tiny", "--models", "fno", "--out", str(tmp_path / "b"), "--predictions"]
    assert main([*argv, str(junk)]) == 2
    assert "outside.h5 is not a readable HDF5 file" in capsys.readouterr().err
    assert main([*argv, str(tmp_path / "gone.h5")]) == 2
    assert "no predictions file at" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_a_second_bench_into_the_same_folder_is_refused(tmp_path, capsys, monkeypatch):
    from pde_data.locks import RunLock

    out = tmp_path / "b"
    out.mkdir()
    monkeypatch.setattr(Bench, "_run", lambda *a: pytest.fail("benched beside another bench"))
    with RunLock(out / "bench.lock", "benching"):  # held by this (live) process, as by a running bench
        assert main(["bench", "ks", "--tier", "tiny", "--models", "fno", "--out", str(out), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert f"is benching into {out}" in error and "wait for it to finish" in error and error.count("\n") == 1
    assert not (out / "bench.lock").exists()


def test_a_well_directory_is_a_suite(tmp_path):
    from test_well import write_masked_file, write_splits

    root = write_splits(tmp_path / "masked", write_masked_file, (("train", 8), ("valid", 2), ("test", 2)))
    results = Bench(str(root), tmp_path / "bench", "tiny", progress=False).run(["fno"])
    assert results[0]["solver"] is None and results[0]["relative_l2_rollout"] > 0  # no solver for outside data
    write(tmp_path / "bench")
    assert "| fno | " in (tmp_path / "bench" / "leaderboard.md").read_text()


def test_seconds_budget_trains_the_epochs_that_fit(tmp_path):
    result = Bench("ns-1e-3", tmp_path, "tiny", budget="seconds", budget_value=3, progress=False).run(["fno"])[0]
    assert result["epochs"] == max(1, int(3 // result["seconds_per_epoch"])) and result["budget_seconds"] == 3
    assert not (tmp_path / "models" / "fno" / "probe").exists()


def test_the_first_frame_generator_is_benched_as_a_forecaster_over_its_trajectory(tmp_path):
    """latent-dit trains its autoencoder first (resumable, reused), then forecasts the frames its
    trajectory holds: 4 of the tiny NS suite's 5 (the autoencoder's time axis divides by 4), 3 steps."""
    bench = Bench("ns-1e-3", tmp_path, "tiny", progress=False)
    (row,) = bench.run(["latent-dit"])
    assert row["rollout_steps"] == 3 and len(row["relative_l2_per_step"]) == 3
    assert 0 < row["relative_l2_rollout"] < 10 and row["relative_l2_one_step"] > 0
    stage = tmp_path / "models" / "latent-dit" / "stage"
    assert (stage / "checkpoints" / "best.pt").is_file()
    assert row["train_seconds"] > bench_module.training_seconds(tmp_path / "models" / "latent-dit" / "run")
    import operators

    generator = operators.load(tmp_path / "models" / "latent-dit" / "run")
    counted = operators.parameter_count(generator.denoiser) + operators.parameter_count(generator.autoencoder.model)
    assert row["parameters"] == counted  # denoiser and autoencoder together
    assert row["solver_frames"] == 3
    write(tmp_path)
    assert "| latent-dit | " in (tmp_path / "leaderboard.md").read_text()


def test_temporal_bundling_predicts_several_states_per_call_and_a_changed_bench_is_refused(tmp_path):
    out = tmp_path / "bundled"
    argv = ["bench", "burgers", "--tier", "tiny", "--models", "fno,semilinear-observer", "--bundle", "2"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    (row,) = json.loads((out / "leaderboard.json").read_text())["rows"]
    surrogate = operators.load(out / "models" / "fno" / "run")
    assert row["model"] == "fno" and surrogate.horizon == 2 and 0 < row["relative_l2_rollout"] < 10
    assert len(row["relative_l2_per_step"]) == row["rollout_steps"]  # every state scored, two per call
    reason = json.loads((out / "models" / "semilinear-observer" / "failed.json").read_text())["reason"]
    assert "only next-step models bundle states per call" in reason
    assert "2 states per call" in (out / "leaderboard.md").read_text()
    with pytest.raises(InputError, match=r"other settings \(bundle 2 -> 1\)"):
        Bench("burgers", out, "tiny", progress=False).run(["fno"])


def test_a_direct_operator_bench_makes_one_call_and_meets_the_ladder_at_the_final_time(tmp_path, capsys):
    out = tmp_path / "direct"
    assert (
        main(["bench", "burgers", "--tier", "tiny", "--models", "fno", "--direct", "--out", str(out), "--quiet"]) == 0
    )
    (row,) = json.loads((out / "leaderboard.json").read_text())["rows"]
    surrogate = operators.load(out / "models" / "fno" / "run")
    frames = row["solver_frames"]
    assert row["rollout_steps"] == 1 and surrogate.metadata["stride"] == frames > 1
    assert list(json.loads((out / "ladder.json").read_text())) == [f"from frame 0, 1 x {frames} frames, batch 64, cpu"]
    assert "direct operators u(0) -> u(T)" in (out / "leaderboard.md").read_text()
    argv = ["bench", "burgers", "--tier", "tiny", "--direct", "--bundle", "2", "--out", str(tmp_path / "x")]
    assert main(argv) == 2 and "takes no bundle" in capsys.readouterr().err
