"""The training commands of ``pdeop``: train, evaluate, predict, quickstart; happy paths and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

import pde_data
from training.cli import main

SETTINGS = [
    "--set",
    "model.hyperparameters={modes: 8, width: 16, layers: 2}",
    "--set",
    "optim.lr=5.0e-3",
    "--set",
    "train.eval_trajectories=2",
]


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return pde_data.generate("kdv-lpsda-tiny", tmp_path_factory.mktemp("d") / "kdv.h5", 20, progress=False)


@pytest.fixture(scope="module")
def trained_run(data, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("r") / "run"
    status = main(
        [
            "train",
            "--data",
            str(data),
            "--model",
            "fno",
            "--epochs",
            "3",
            "--out",
            str(run_dir),
            "--quiet",
            "--device",
            "cpu",
            *SETTINGS,
        ]
    )
    assert status == 0
    return run_dir


def test_train_writes_a_run_and_prints_the_validation_table(trained_run):
    assert (trained_run / "checkpoints" / "best.pt").is_file()
    assert "relative_l2" in (trained_run / "metrics.csv").read_text()


def test_resume_extends_a_finished_run(trained_run, data, capsys):
    status, out, _ = run(capsys, "train", "--out", trained_run, "--resume", "--epochs", "4", "--quiet")
    assert status == 0 and "validation rollouts" in out
    assert len((trained_run / "metrics.csv").read_text().splitlines()) == 5


def test_evaluate_predict_and_score_predictions(trained_run, data, tmp_path, capsys):
    status, out, _ = run(capsys, "evaluate", trained_run, "--data", data, "--split", "test", "--out", tmp_path / "ev")
    assert status == 0 and "persistence" in out and (tmp_path / "ev" / "error_vs_step.png").is_file()
    predictions = tmp_path / "pred.h5"
    status, out, _ = run(
        capsys,
        "predict",
        trained_run,
        "--input",
        data,
        "--sample",
        "3",
        "--sample",
        "5",
        "--steps",
        "6",
        "--out",
        predictions,
    )
    assert status == 0 and "ms per trajectory" in out and "speed-up" in out
    with h5py.File(predictions) as f:
        assert f["t0_fields/u"].shape == (2, 6, 64) and list(f["pdeop/sample_index"][()]) == [3, 5]
        assert f.attrs["first_frame"] == 1 and f.attrs["source"] == "prediction"
    assert pde_data.open(predictions)["u"].shape == (2, 6, 64)
    status, out, _ = run(capsys, "evaluate", "--predictions", predictions, "--data", data, "--out", tmp_path / "ev2")
    assert status == 0 and "relative_l2_rollout" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "{tmp}/none.h5"], "no dataset file"),
        (
            ["train", "--data", "{data}", "--model", "resnet", "--out", "{tmp}/r"],
            "unknown architecture 'resnet'; available: fno",
        ),
        (["train", "--data", "{data}", "--set", "optim.lrr=1", "--out", "{tmp}/r"], "unknown config key 'optim.lrr'"),
        (["train", "--resume"], "--resume needs --out RUN"),
        (["train", "--resume", "--out", "{tmp}/nothing"], "cannot resume"),
        (["train", "--out", "{tmp}/r"], "no training data: pass --data FILE"),
        (["evaluate", "--data", "{data}"], "give a run directory"),
        (["evaluate", "{tmp}", "--data", "{data}"], "without checkpoints/best.pt"),
        (["predict", "{tmp}/none", "--input", "{data}", "--steps", "2", "--out", "{tmp}/p.h5"], "no checkpoint at"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, data, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{data}", str(data)) for a in argv]
    status, _, err = run(capsys, *argv)
    assert status == 2 and message in err and err.count("\n") == 1


def test_predict_rejects_bad_samples_and_steps(trained_run, data, tmp_path, capsys):
    status, _, err = run(
        capsys, "predict", trained_run, "--input", data, "--sample", "99", "--steps", "2", "--out", tmp_path / "p.h5"
    )
    assert status == 2 and "sample 99 is out of range" in err
    status, _, err = run(capsys, "predict", trained_run, "--input", data, "--steps", "0", "--out", tmp_path / "p.h5")
    assert status == 2 and "--steps must be a positive integer" in err


@pytest.mark.slow
def test_quickstart_beats_persistence_widely_and_the_readme_example_runs_on_its_model(tmp_path, capsys):
    folder = tmp_path / "quickstart"  # the README's Python example loads quickstart/run
    status, out, _ = run(capsys, "quickstart", "--out", folder, "--epochs", "20", "--samples", "48", "--quiet")
    assert status == 0 and "summary: rollout relative L2" in out
    report = json.loads((folder / "evaluation" / "evaluation.json").read_text())
    model, baseline = report["model"]["summary"], report["persistence"]["summary"]
    assert model["relative_l2_rollout"] < 0.3 * baseline["relative_l2_rollout"]
    for name in ("ns-tiny.h5", "predictions.h5", "run/checkpoints/best.pt", "evaluation/prediction_vs_truth.png"):
        assert (folder / name).is_file()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.py").write_text(example)
    done = subprocess.run(
        [sys.executable, "example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert done.returncode == 0, done.stderr
    assert "torch.Size([8, 10, 1, 32, 32])" in done.stdout and "fno" in done.stdout


def test_the_quickstart_summary_says_when_a_model_is_worse_than_persistence():
    from training.quickstart import compared_with_persistence

    persistence = {"relative_l2_rollout": 0.914}
    assert compared_with_persistence({"relative_l2_rollout": 0.2}, persistence) == "4.6x lower"
    worse = compared_with_persistence({"relative_l2_rollout": 1.15}, persistence)
    assert worse == "1.3x higher: worse than persistence"
