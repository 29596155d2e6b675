"""The trainer and the Surrogate API on tiny data: learning, precision, checkpoints, resume, DDP."""

from __future__ import annotations

import math
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch

import operators
import pde_data
from operators import CheckpointError, Surrogate
from operators.predictors.call_batches import CPU_CALL_POINTS
from training.config import load_config
from training.distributed import LaunchError, context_from_environment
from training.evaluation.metrics import relative_l2
from training.run import resume_config, train

SETTINGS = [
    "model.name=fno",
    "model.hyperparameters={modes: 8, width: 16, layers: 2}",
    "data.batch_size=16",
    "optim.lr=5.0e-3",
    "train.device=cpu",
    "train.eval_trajectories=4",
]


@pytest.fixture(scope="module")
def burgers(tmp_path_factory):
    return pde_data.generate("burgers-fno-tiny", tmp_path_factory.mktemp("data") / "burgers.h5", 20, progress=False)


def config_for(data, *extra):
    return load_config(None, [f"data.path={data}", *SETTINGS, *extra])


def persistence_error(data) -> float:
    windows = pde_data.TrajectoryDataset(data, split="valid")
    inputs = torch.stack([w["input"][-1] for w in windows])
    targets = torch.stack([w["target"][0] for w in windows])
    return float(relative_l2(inputs, targets))


def test_training_lowers_the_loss_and_beats_persistence(burgers, tmp_path):
    trainer, report = train(config_for(burgers, "train.epochs=12"), tmp_path / "run", progress=False)
    losses = [row["train_loss"] for row in trainer.history]
    assert losses[-1] < 0.5 * losses[0]
    assert trainer.history[-1]["val_relative_l2"] < 0.5 * persistence_error(burgers)
    model, baseline = report["model"]["summary"], report["persistence"]["summary"]
    assert model["relative_l2_rollout"] < 0.5 * baseline["relative_l2_rollout"]
    for name in (
        "config.yaml",
        "metrics.csv",
        "metrics.jsonl",
        "checkpoints/best.pt",
        "checkpoints/last.pt",
        "evaluation/evaluation.json",
        "evaluation/error_vs_step.png",
        "evaluation/prediction_vs_truth.png",
    ):
        assert (tmp_path / "run" / name).is_file(), name


def test_best_checkpoint_round_trips_through_surrogate(burgers, tmp_path):
    trainer, _ = train(config_for(burgers, "train.epochs=2"), tmp_path / "run", progress=False, evaluate=False)
    loaded = Surrogate.load(tmp_path / "run")
    assert loaded.metadata["equation"] == "burgers" and loaded.metadata["grid"] == [64] and loaded.residual
    assert loaded.metadata["dt"] == pytest.approx(0.1)
    u0 = torch.randn(3, 1, 1, 64)
    reference = trainer.surrogate().predict(u0, 4)
    assert torch.equal(loaded.predict(u0, 4), reference)
    loaded.save(tmp_path / "copy.pt")
    assert torch.equal(Surrogate.load(tmp_path / "copy.pt").predict(u0, 4), reference)


class Payload:
    def __reduce__(self):  # what a malicious checkpoint would carry
        return (print, ("unpickled",))


def test_checkpoints_with_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "pdeop-checkpoint", "model": Payload()}, path)
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        Surrogate.load(path)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a pdeop checkpoint"):
        Surrogate.load(tmp_path / "foreign.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        Surrogate.load(tmp_path / "text.pt")
    with pytest.raises(FileNotFoundError, match=r"without checkpoints/best\.pt"):
        Surrogate.load(tmp_path)
    assert pickle  # the refusal above is torch's weights_only unpickler at work


def test_bf16_autocast_trains_on_cpu_with_spectral_layers_in_float32(burgers, tmp_path, monkeypatch):
    from neuralop.layers.spectral_convolution import SpectralConv

    seen, original = [], SpectralConv.forward

    def recording(self, x, *args, **kwargs):
        seen.append(x.dtype)
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(SpectralConv, "forward", recording)
    settings = ("train.epochs=2", "train.precision=bf16")
    trainer, _ = train(config_for(burgers, *settings), tmp_path / "r", progress=False, evaluate=False)
    assert seen and set(seen) == {torch.float32}
    assert all(torch.isfinite(torch.tensor(row["train_loss"])) for row in trainer.history)


def test_fp16_needs_cuda(burgers, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the fp16 path is exercised on the GPU")
    with pytest.raises(ValueError, match="fp16 training needs a CUDA device"):
        train(config_for(burgers, "train.precision=fp16"), tmp_path / "r", progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_with_gradient_scaling_on_cuda(burgers, tmp_path):
    trainer, _ = train(
        config_for(burgers, "train.epochs=2", "train.precision=fp16", "train.device=cuda"),
        tmp_path / "r",
        progress=False,
        evaluate=False,
    )
    assert trainer.scaler.is_enabled() and torch.isfinite(torch.tensor(trainer.history[-1]["train_loss"]))


def test_ema_onecycle_multistep_pushforward_and_h1_loss_run(burgers, tmp_path):
    settings = [
        "train.epochs=2",
        "train.ema_decay=0.9",
        "schedule.name=onecycle",
        "task.rollout_steps=2",
        "task.pushforward=true",
    ]
    trainer, _ = train(config_for(burgers, *settings), tmp_path / "r", progress=False, evaluate=False)
    assert trainer.ema is not None and len(trainer.history) == 2


@pytest.mark.parametrize("loss", ["relative-h1", "hs", "mse"])
def test_every_loss_trains(burgers, tmp_path, loss):
    trainer, _ = train(
        config_for(burgers, "train.epochs=4", f"task.loss={loss}", "task.hs_a=2.0"),
        tmp_path / "r",
        progress=False,
        evaluate=False,
    )
    losses = [row["train_loss"] for row in trainer.history]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]


def test_operator_task_maps_first_frame_to_last(burgers, tmp_path):
    train(config_for(burgers, "train.epochs=2", "task.kind=operator"), tmp_path / "r", progress=False, evaluate=False)
    surrogate = Surrogate.load(tmp_path / "r")
    assert surrogate.metadata["stride"] == 10 and surrogate.metadata["dt"] == pytest.approx(1.0)


def _weights(path):
    return operators.load_checkpoint(path)["state_dict"]


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_weights(burgers, tmp_path):
    epochs = 8
    reference, _ = train(
        config_for(burgers, f"train.epochs={epochs}"), tmp_path / "reference", progress=False, evaluate=False
    )
    run = tmp_path / "killed"
    # the reference's thread count: summation orders, and so the bits, depend on it (the command line's
    # default is 1 on a small machine, this process's whatever earlier tests left)
    command = [
        sys.executable,
        "-m",
        "training.cli",
        "train",
        "--data",
        str(burgers),
        "--out",
        str(run),
        "--quiet",
        "--epochs",
        str(epochs),
        "--threads",
        str(torch.get_num_threads()),
        *[arg for setting in SETTINGS for arg in ("--set", setting)],
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = run / "metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 3):
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = len(metrics.read_text().splitlines()) - 1
    assert 2 <= done < epochs, "the run finished before it could be killed"
    trainer, _ = train(resume_config(run, []), run, resume=True, progress=False, evaluate=False)
    assert len(trainer.history) == epochs
    final, expected = (
        _weights(run / "checkpoints" / "last.pt"),
        _weights(tmp_path / "reference" / "checkpoints" / "last.pt"),
    )
    assert all(torch.equal(final[k], expected[k]) for k in expected)
    assert len(metrics.read_text().splitlines()) == epochs + 1
    assert reference.history[-1]["train_loss"] == pytest.approx(trainer.history[-1]["train_loss"], rel=0, abs=0)


def test_checkpoint_time_is_recorded_and_an_older_metrics_file_keeps_its_columns(burgers, tmp_path):
    run = tmp_path / "run"
    trainer, _ = train(config_for(burgers, "train.epochs=1"), run, progress=False, evaluate=False)
    assert trainer.history[0]["checkpoint_seconds"] > 0  # best.pt and last.pt were written
    # a run written before the column existed: resuming appends rows under the file's own header
    rows = (run / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    position = header.index("checkpoint_seconds")
    old = [",".join(cell for i, cell in enumerate(row.split(",")) if i != position) for row in rows]
    (run / "metrics.csv").write_text("\n".join(old) + "\n")
    train(config_for(burgers, "train.epochs=2"), run, resume=True, progress=False, evaluate=False)
    lines = (run / "metrics.csv").read_text().splitlines()
    assert len(lines) == 3 and all(len(line.split(",")) == len(header) - 1 for line in lines)


def test_a_loss_that_stops_being_finite_ends_the_run_naming_the_epoch(burgers, tmp_path, monkeypatch):
    from training.tasks.next_step import NextStepTask
    from training.trainer import TrainingDivergedError

    real, calls = NextStepTask.loss, []

    def failing(self, model, batch):
        loss, metrics = real(self, model, batch)
        calls.append(1)
        return (loss * float("nan") if len(calls) > 2 else loss), metrics

    monkeypatch.setattr(NextStepTask, "loss", failing)
    with pytest.raises(TrainingDivergedError, match="the loss became nan in epoch 1"):
        train(
            config_for(burgers, "train.epochs=2", "data.batch_size=2"), tmp_path / "r", progress=False, evaluate=False
        )
    assert len(calls) == 3  # stopped at the first non-finite loss, before its optimizer step


def test_starting_over_an_existing_run_is_refused(burgers, tmp_path):
    train(config_for(burgers, "train.epochs=1"), tmp_path / "r", progress=False, evaluate=False)
    with pytest.raises(ValueError, match="already holds a training run; pass --resume"):
        train(config_for(burgers, "train.epochs=1"), tmp_path / "r", progress=False, evaluate=False)


@pytest.mark.slow
def test_two_process_ddp_on_gloo(burgers, tmp_path):
    run = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        "29531",
        "-m",
        "training.cli",
        "train",
        "--data",
        str(burgers),
        "--out",
        str(run),
        "--quiet",
        "--epochs",
        "2",
        *[arg for setting in SETTINGS for arg in ("--set", setting)],
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run / "checkpoints" / "best.pt").is_file()
    lines = (run / "metrics.csv").read_text().splitlines()
    assert len(lines) == 3  # header + 2 epochs, written once (rank 0 only)
    assert Surrogate.load(run).predict(torch.zeros(1, 1, 1, 64), 2).shape == (1, 2, 1, 64)


def test_half_configured_launches_fail_loudly(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(LaunchError, match=r"RANK.*not set: launch multi-process training with torchrun"):
        context_from_environment()


def test_surrogate_predict_shapes_and_errors():
    model = operators.build("fno", in_channels=2, out_channels=2, ndim=1, modes=4, width=8, layers=1)
    surrogate = Surrogate(model, [0.0], [1.0], history=2, horizon=2, metadata={"grid": [32]})
    assert surrogate.predict(torch.randn(4, 5, 1, 32), 3).shape == (4, 3, 1, 32)  # more history is fine
    with pytest.raises(ValueError, match="needs the last 2 states as input, got 1"):
        surrogate.predict(torch.randn(4, 1, 1, 32), 3)
    with pytest.raises(ValueError, match="expected 1 channel"):
        surrogate.predict(torch.randn(4, 2, 3, 32), 3)
    # FNO is resolution-agnostic: another grid of the same dimension is accepted ...
    assert surrogate.resolution_agnostic and surrogate.predict(torch.randn(4, 2, 1, 64), 3).shape == (4, 3, 1, 64)
    with pytest.raises(ValueError, match=r"trained on 1D data \(grid \(32,\)\), but u0 \(4, 2, 1, 16, 16\) holds 2D"):
        surrogate.predict(torch.randn(4, 2, 1, 16, 16), 3)
    # ... while a grid-tied model (MgNO's stencils are in grid points) refuses it and says how to resample
    mgno = operators.build("mgno", in_channels=2, out_channels=2, ndim=1, channels=4, layers=1, levels=2)
    tied = Surrogate(mgno, [0.0], [1.0], history=2, horizon=2, metadata={"grid": [32]})
    with pytest.raises(ValueError, match=r"expected a grid of \(32,\), got \(16,\).*fourier_resample"):
        tied.predict(torch.randn(4, 2, 1, 16), 3)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        surrogate.predict(torch.randn(4, 2, 1, 32), 0)
    with pytest.raises(ValueError, match="fp16 autocast needs a CUDA device"):
        if not torch.cuda.is_available():
            surrogate.predict(torch.randn(1, 2, 1, 32), 1, precision="fp16")
        else:
            raise ValueError("fp16 autocast needs a CUDA device")
    assert surrogate.predict(torch.randn(1, 2, 1, 32), 2, precision="bf16").dtype == torch.float32


def test_fast_inference_keeps_convolution_weights_channels_last_and_changes_results_only_by_rounding(tmp_path):
    torch.manual_seed(0)
    unet = operators.build("unet", in_channels=1, out_channels=1, ndim=2, hidden=4, multipliers=[1, 2])
    surrogate = Surrogate(unet, [0.5], [2.0], history=1, residual=True, metadata={"grid": [16, 16]})
    u0 = torch.randn(3, 1, 1, 16, 16)
    fast = surrogate.predict(u0, 3)  # the default
    kernels = [m.weight for m in unet.modules() if isinstance(m, torch.nn.Conv2d) and max(m.kernel_size) > 1]
    assert kernels and all(w.is_contiguous(memory_format=torch.channels_last) for w in kernels)
    plain = surrogate.fast_inference(False).predict(u0, 3)
    assert all(w.is_contiguous() for w in kernels)
    assert float((fast - plain).norm() / plain.norm()) < 1e-5  # float32 rounding in another summation order
    surrogate.fast_inference(True).save(tmp_path / "s.pt")  # a channels-last model saves and reloads
    assert float((Surrogate.load(tmp_path / "s.pt").predict(u0, 3) - fast).norm() / fast.norm()) < 1e-5
    # FNO (pointwise convolutions only, spectral weights) keeps its layout
    fno = operators.build("fno", in_channels=1, out_channels=1, ndim=2, modes=4, width=8, layers=1)
    Surrogate(fno, [0.0], [1.0], history=1, metadata={"grid": [16, 16]}).predict(u0, 1)
    assert all(p.is_contiguous() for p in fno.parameters())


def test_fast_inference_rolls_a_large_batch_out_a_few_trajectories_per_call_with_the_same_results():
    torch.manual_seed(0)
    fno = operators.build("fno", in_channels=3, out_channels=1, ndim=1, modes=4, width=8, layers=1)
    constants = {"names": ["c"], "mean": [1.0], "std": [2.0]}
    surrogate = Surrogate(fno, [0.5], [2.0], history=2, residual=True, metadata={"grid": [32]}, constants=constants)
    u0, constant = torch.randn(11, 2, 1, 32), torch.randn(11, 1, 32)
    # the CPU default: as many trajectories as CPU_CALL_POINTS grid points, on the grid given
    assert surrogate.trajectories_per_call(torch.zeros(2000, 2, 1, 32)) == CPU_CALL_POINTS // 32
    assert surrogate.trajectories_per_call(torch.zeros(400, 2, 1, CPU_CALL_POINTS // 4)) == 4
    assert surrogate.trajectories_per_call(torch.zeros(400, 2, 1, 2 * CPU_CALL_POINTS)) == 1
    calls = []
    fno.register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # one thread: the groups in turn, each rolled out whole before the next
        grouped = surrogate.fast_inference(call_batch=4).predict(u0, 3, constant=constant)
        assert calls == [4, 4, 4, 4, 4, 4, 3, 3, 3]
        torch.set_num_threads(2)  # two: the groups side by side, one thread each
        side_by_side = surrogate.predict(u0, 3, constant=constant)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    calls.clear()
    whole = surrogate.fast_inference(call_batch=None).predict(u0, 3, constant=constant)
    assert calls == [11, 11, 11]
    for result in (grouped, side_by_side):
        assert float((result - whole).norm() / whole.norm()) < 1e-6  # the samples do not interact
    # pieces of a long rollout carry each group's window on
    pieces = surrogate.fast_inference(call_batch=4).predict_chunks(u0, 3, 2, constant=constant)
    assert float((torch.cat(list(pieces), dim=1) - whole).norm() / whole.norm()) < 1e-6
    assert surrogate.fast_inference(False).trajectories_per_call(u0[:, :, :, :1]) == 11  # plain: the whole batch
    assert surrogate.fast_inference(call_batch=100).trajectories_per_call(u0) == 11
    for bad in (0, -2, 2.5, True, "8"):
        with pytest.raises(ValueError, match=r"call_batch must be a positive integer, None \(whole batch\) or 'auto'"):
            surrogate.fast_inference(call_batch=bad)


def test_registry_lists_and_checks_hyperparameters():
    assert "fno" in operators.available()
    with pytest.raises(ValueError, match="unknown architecture 'resnet'; available: fno"):
        operators.build("resnet")
    with pytest.raises(ValueError, match="fno does not take \\['depth'\\]"):
        operators.build("fno", in_channels=1, out_channels=1, ndim=1, depth=3)
    with pytest.raises(ValueError, match="needs hyperparameters"):
        operators.build("fno", in_channels=1)
