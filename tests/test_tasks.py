"""The training spine: tasks of our own through Trainer and `pdeop train`, the operator task, predictor kinds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import custom_tasks  # noqa: F401  (registers test-autoencoder and test-solver-target)
import pytest
import torch

import operators
import pde_data
from operators import CheckpointError, Surrogate
from training.cli import main
from training.config import load_config
from training.run import build_model, train
from training.tasks import build_task, task_kinds
from training.trainer import Trainer

TESTS = Path(__file__).resolve().parent
FNO = "model.hyperparameters={modes: 8, width: 16, layers: 2}"


@pytest.fixture(scope="module")
def burgers(tmp_path_factory):
    return pde_data.generate("burgers-fno-tiny", tmp_path_factory.mktemp("data") / "burgers.h5", 10, progress=False)


def settings(data, *extra):
    return [f"data.path={data}", FNO, "data.batch_size=4", "optim.lr=5.0e-3", "train.device=cpu", *extra]


def test_a_task_of_our_own_trains_through_trainer_without_changing_it(burgers, tmp_path):
    config = load_config(
        None, settings(burgers, "task.kind=test-autoencoder", "task.scale=2.0", "train.epochs=10", "data.batch_size=2")
    )
    assert "test-autoencoder" in task_kinds() and config.task.scale == 2.0
    task = build_task(config)
    assert task.train_set.mode == "trajectory" and len(task.train_set) == 8
    trainer = Trainer(build_model(config, task), task, config, tmp_path / "run", progress=False)
    history = trainer.fit(task.train_set, task.val_set)
    assert {"val_reconstruction_l2", "val_first_frame_l2"} <= set(history[-1])
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    # its checkpoint holds a plain model: refused by operators.load with one clear line
    with pytest.raises(CheckpointError, match=r"is a 'model' checkpoint, not a predictor pdeop can load"):
        operators.load(tmp_path / "run")


def test_task_options_are_validated_like_every_section(burgers):
    with pytest.raises(ValueError, match=r"unknown config key 'task.rollout_steps'; valid keys in task: kind, scale"):
        load_config(None, settings(burgers, "task.kind=test-autoencoder", "task.rollout_steps=2"))
    with pytest.raises(ValueError, match=r"task.kind = 'nope' is not a registered task; known: .*next-step"):
        load_config(None, settings(burgers, "task.kind=nope"))


def test_a_task_of_our_own_trains_through_the_command_line(burgers, tmp_path, capsys):
    arguments = [
        "train",
        "--data",
        str(burgers),
        "--out",
        str(tmp_path / "cli"),
        "--epochs",
        "2",
        "--quiet",
        "--device",
        "cpu",
        "--set",
        "task.kind=test-autoencoder",
        "--set",
        FNO,
    ]
    assert main(arguments) == 0
    assert "run directory" in capsys.readouterr().out
    assert (tmp_path / "cli" / "checkpoints" / "last.pt").is_file()
    assert main(["train", "--out", str(tmp_path / "cli"), "--resume", "--epochs", "3", "--quiet"]) == 0
    assert len((tmp_path / "cli" / "metrics.csv").read_text().splitlines()) == 1 + 3


def test_initial_condition_mode_and_a_task_that_owns_a_solver(tmp_path):
    config = load_config(
        None,
        [
            FNO,
            "task.kind=test-solver-target",
            "data.recipe=burgers-fno-tiny",
            "data.samples=32",
            "data.batch_size=8",
            "train.epochs=8",
            "optim.lr=5.0e-3",
            "train.device=cpu",
        ],
    )
    trainer, report = train(config, tmp_path / "ic", progress=False)
    assert report is None  # this task has no evaluation of its own
    losses = [row["train_loss"] for row in trainer.history]
    assert losses[-1] < 0.5 * losses[0]
    surrogate = operators.load(tmp_path / "ic")  # a surrogate, though no file was ever generated
    assert isinstance(surrogate, Surrogate) and surrogate.metadata["task"] == "test-solver-target"
    u0 = pde_data.InitialConditionDataset("burgers-fno-tiny", 2, split="test")[0]["u0"]
    assert surrogate.predict(u0[None, None], 1).shape == (1, 1, 1, 64)


def test_operator_task_maps_the_first_frame_to_the_last(burgers, tmp_path):
    config = load_config(None, settings(burgers, "task.kind=operator", "train.epochs=10", "train.eval_trajectories=2"))
    trainer, report = train(config, tmp_path / "op", progress=False)
    assert trainer.task.train_set.mode == "trajectory" and trainer.task.train_set.frame_indices == [0, 10]
    surrogate = operators.load(tmp_path / "op")
    assert surrogate.metadata["stride"] == 10 and surrogate.metadata["dt"] == pytest.approx(1.0)
    assert surrogate.history == 1 and not surrogate.residual
    assert report["given_frames"] == 1 and len(report["model"]["curves"]["relative_l2"]) == 1
    model, baseline = report["model"]["summary"], report["persistence"]["summary"]
    assert model["relative_l2_rollout"] < baseline["relative_l2_rollout"]


def test_best_and_last_checkpoints_both_load_as_predictors(burgers, tmp_path):
    config = load_config(None, settings(burgers, "train.epochs=2"))
    trainer, _ = train(config, tmp_path / "run", progress=False, evaluate=False)
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    for loaded in (Surrogate.load(last), operators.load(last), operators.load(tmp_path / "run")):
        assert isinstance(loaded, Surrogate) and loaded.history == 1  # 'history' is the window, not the log
    state = torch.load(last, weights_only=True)
    assert state["kind"] == "surrogate" and len(state["training"]["epochs"]) == 2
    u0 = torch.randn(2, 1, 1, 64)
    assert torch.equal(operators.load(last).predict(u0, 3), trainer.predictor().predict(u0, 3))


@pytest.mark.slow
def test_ddp_validation_reduces_the_task_metric_names_when_a_rank_has_no_batches(burgers, tmp_path):
    # 10 trajectories: the valid split is one trajectory, so rank 1 validates nothing and must still
    # join the reduction with the task's three metric names
    script = tmp_path / "launch.py"
    script.write_text(
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); import custom_tasks\n"
        "from training.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    run = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29533",
        str(script),
        "train",
        "--data",
        str(burgers),
        "--out",
        str(run),
        "--quiet",
        "--epochs",
        "2",
        "--device",
        "cpu",
        "--set",
        "task.kind=test-autoencoder",
        "--set",
        FNO,
        "--set",
        "data.batch_size=4",
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert "val_first_frame_l2" in header and "val_reconstruction_l2" in header


def test_the_command_line_prints_user_mistakes_as_one_line_and_keeps_tracebacks_for_bugs(burgers, monkeypatch, capsys):
    assert main(["train", "--data", str(burgers), "--set", "task.kind=nope"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("pdeop train: error: task.kind = 'nope' is not a registered task") and "\n" not in error

    def broken(*args, **kwargs):
        raise KeyError("an internal bug")

    monkeypatch.setattr("training.run.train", broken)
    with pytest.raises(KeyError, match="an internal bug"):
        main(["train", "--data", str(burgers), "--quiet"])
