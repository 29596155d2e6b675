"""Bad input, interruptions and concurrency: each case found by attacking the commands, kept fixed here.

Command-line cases run `python -m training.cli` in a subprocess: one line on stderr,
exit status 2, no traceback, and nothing left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import operators
import pde_data
from operators import Surrogate
from operators.predictors.checkpoint import save_checkpoint
from training.config import load_config
from training.run import train

FNO = "model.hyperparameters={modes: 8, width: 16, layers: 2}"


def pdeop(*arguments, cwd=None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "training.cli", *map(str, arguments)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, env=environment)


def refused(result: subprocess.CompletedProcess, *phrases: str) -> bool:
    """Exit 2 with one line on stderr containing every phrase, and no traceback."""
    error = result.stderr.strip()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and len(error.splitlines()) == 1, result.stderr[-2000:]
    missing = [p for p in phrases if p not in error]
    assert not missing, (missing, error)
    return True


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return pde_data.generate("burgers-fno-tiny", tmp_path_factory.mktemp("data") / "burgers.h5", 20, progress=False)


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run") / "run"
    config = load_config(None, [f"data.path={data}", FNO, "train.epochs=2", "train.device=cpu"])
    train(config, folder, progress=False, evaluate=False)
    return folder


# --- 1. resume ----------------------------------------------------------------------------------------
def test_a_resume_with_another_architecture_or_data_is_refused_and_changes_nothing(run, data, tmp_path):
    config_before = (run / "config.yaml").read_bytes()
    assert refused(
        pdeop("train", "--resume", "--out", run, "--set", "model.hyperparameters.width=8"),
        "cannot resume",
        "width 16 in the run, 8 now",
    )
    ns = pde_data.generate("ns-fno-1e-3-tiny", tmp_path / "ns.h5", 10, progress=False)
    assert refused(pdeop("train", "--resume", "--out", run, "--data", ns), "ndim (from the data) 1 in the run, 2 now")
    other = pde_data.generate("burgers-fno-tiny", tmp_path / "other.h5", 20, seed=1, progress=False)
    assert refused(pdeop("train", "--resume", "--out", run, "--data", other), "the data differs", "seed 0 -> 1")
    assert (run / "config.yaml").read_bytes() == config_before
    assert str(Path(data).resolve()) in config_before.decode()  # stored absolute


def test_resume_works_from_any_folder_with_a_relative_data_path(data, tmp_path):
    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start.mkdir(), elsewhere.mkdir()
    (start / "d.h5").write_bytes(Path(data).read_bytes())
    arguments = [
        "--out",
        tmp_path / "r",
        "--quiet",
        "--device",
        "cpu",
        "--set",
        FNO,
        "--set",
        "train.eval_trajectories=1",
    ]
    assert pdeop("train", "--data", "d.h5", "--epochs", "1", *arguments, cwd=start).returncode == 0
    result = pdeop("train", "--resume", "--epochs", "2", *arguments, cwd=elsewhere)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len((tmp_path / "r" / "metrics.csv").read_text().splitlines()) == 3


# --- 2. no traceback on bad input -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arguments", "phrases"),
    [
        (["--seed", str(2**70)], ["seed must be an integer >= 0 and < 2**63"]),
        (["--device", "meta"], ["device 'meta' is not supported"]),
        (["--shard", "0/5"], ["cannot split 1 batch(es)"]),
        (["--extra-fields", "velocity"], ["burgers has no derived field"]),
    ],
)
def test_generate_validates_before_creating_anything(tmp_path, arguments, phrases):
    with pytest.raises(ValueError, match=r"dtype must be None, torch\.float32 or torch\.float64"):
        pde_data.generate("burgers-fno-tiny", tmp_path / "x.h5", 4, dtype=torch.int32, progress=False)
    out = tmp_path / "x.h5"
    assert refused(pdeop("generate", "burgers-fno-tiny", "--out", out, "--samples", "4", *arguments), *phrases)
    assert list(tmp_path.iterdir()) == []  # no OUT.parts/, no lock, no shard file


def test_files_with_broken_recipes_or_from_other_tools_get_one_line(tmp_path, run):
    for name, recipe in (("empty", "{}"), ("garbage", "not json")):
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            f.attrs["recipe"] = recipe
            f.create_group("t0_fields")
        assert refused(pdeop("info", tmp_path / f"{name}.h5"), f"{name}.h5 has an unreadable recipe attribute")
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["data"] = np.zeros(3)
    assert refused(
        pdeop("predict", run, "--input", tmp_path / "foreign.h5", "--steps", "1", "--out", tmp_path / "p.h5"),
        "not a pdeop dataset",
    )
    assert not (tmp_path / "p.h5").exists()


def test_merge_refuses_an_incomplete_shard(tmp_path):
    for i in range(2):
        pde_data.generate("ks-lpsda-tiny", tmp_path / "m.h5", 8, batch_size=4, shard=f"{i}/2", progress=False)
    with h5py.File(tmp_path / "m.shard-1-of-2.h5", "a") as f:
        del f["pdeop/sample_index"]
    assert refused(pdeop("merge", tmp_path / "m.h5"), "not a complete shard file", "pdeop/sample_index")
    (tmp_path / "notes.h5").write_text("not HDF5")
    assert refused(pdeop("merge", tmp_path / "j.h5", "--shards", tmp_path / "notes.h5"), "not a readable HDF5 file")
    assert refused(pdeop("merge", tmp_path / "j.h5", "--shards", tmp_path / "gone.h5"), "no shard file at")
    assert not (tmp_path / "j.h5").exists()


@pytest.mark.parametrize(
    ("setting", "phrase"),
    [
        ("schedule.warmup_steps=abc", "schedule.warmup_steps expects an integer, got 'abc'"),
        ("model.hyperparameters.width=abc", "hyperparameter width must be a positive integer, got 'abc'"),
        ("model.hyperparameters.width=-4", "hyperparameter width must be a positive integer, got -4"),
        ("model.hyperparameters.modes=0", "hyperparameter modes must be a positive integer, got 0"),
        ("model.hyperparameters.modes=1000", "modes = 1000 is more than a 64-point grid holds"),
        ("train.eval_trajectories=abc", "train.eval_trajectories expects an integer"),
        ("train.seed=abc", "train.seed expects an integer, got 'abc'"),
        ("train.compile=maybe", "train.compile expects true or false, got 'maybe'"),
        ("optim.lr=inf", "optim.lr must be a finite number > 0, got inf"),
        ("train.device=bogus", "unknown device 'bogus'"),
    ],
)
def test_bad_settings_are_refused_before_training(data, setting, phrase):
    with pytest.raises(ValueError, match=phrase.replace("(", r"\(").replace("*", r"\*")):
        config = load_config(None, [f"data.path={data}", setting])
        from training.run import build_model
        from training.tasks import build_task

        build_model(config, build_task(config))
        from solvers import resolve_device

        resolve_device(config.train.device)


def test_bad_settings_through_the_command_line(data, tmp_path):
    out = tmp_path / "never"
    assert refused(
        pdeop("train", "--data", data, "--out", out, "--set", "train.seed=abc"), "train.seed expects an integer"
    )
    assert refused(
        pdeop("train", "--data", data, "--out", out, "--set", "model.hyperparameters.width=-4"),
        "width must be a positive integer",
    )
    (tmp_path / "plain.yaml").write_text("just a string\n")
    assert refused(pdeop("train", "--data", data, "--config", tmp_path / "plain.yaml"), "must hold a YAML mapping")
    (tmp_path / "long.yaml").write_text("x" * 5000 + "\n")  # e.g. the wrong file: its text is not echoed whole
    result = pdeop("train", "--data", data, "--config", tmp_path / "long.yaml")
    assert refused(result, "must hold a YAML mapping", "got str 'xxx") and len(result.stderr) < 400
    assert not out.exists()


def test_broken_checkpoints_and_devices_get_one_line(run, data, tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    assert refused(
        pdeop("predict", tmp_path / "empty.pt", "--input", data, "--steps", "1", "--out", tmp_path / "a.h5"),
        "is empty (0 bytes)",
    )
    assert refused(pdeop("evaluate", data, "--data", data), "is an HDF5 file")
    crafted = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    crafted["model"]["hyperparameters"]["width"] = -1
    save_checkpoint({k: v for k, v in crafted.items() if k not in ("format", "version")}, tmp_path / "crafted.pt")
    assert refused(pdeop("evaluate", tmp_path / "crafted.pt", "--data", data), "width must be a positive integer")
    predict = ("predict", run, "--input", data, "--steps", "1", "--out", tmp_path / "b.h5")
    if not torch.cuda.is_available():
        assert refused(pdeop(*predict, "--device", "cuda"), "CUDA is not available here")
    assert refused(pdeop(*predict, "--device", "bogus"), "unknown device 'bogus'")
    with pytest.raises(ValueError, match="unknown device 'bogus'"):  # the Python API too (was torch's RuntimeError)
        operators.load(run, device="bogus")
    with pytest.raises(ValueError, match="unknown device 'bogus'"):
        Surrogate.load(run, device="bogus")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available here"):  # was torch's AssertionError
            operators.load(run, device="cuda")
    assert isinstance(operators.load(run, device="auto"), Surrogate)


def test_prediction_from_non_finite_input_is_refused_without_writing(run, data, tmp_path):
    broken = tmp_path / "nan.h5"
    broken.write_bytes(Path(data).read_bytes())
    with h5py.File(broken, "a") as f:
        f["t0_fields/u"][3, 0, 5] = np.nan
    assert refused(
        pdeop("predict", run, "--input", broken, "--sample", "3", "--steps", "2", "--out", tmp_path / "p.h5"),
        "non-finite values (sample 3, frame 0)",
    )
    assert not (tmp_path / "p.h5").exists()


def test_surrogate_inputs_are_checked():
    model = operators.build("fno", in_channels=1, out_channels=1, ndim=2, modes=4, width=8, layers=1)
    surrogate = Surrogate(model, [0.0], [1.0], history=1, metadata={"grid": [16, 16]})
    cases = [
        (torch.zeros(0, 1, 1, 16, 16), "holds no samples"),
        (torch.zeros(1, 1, 16, 16), r"with 5 axes, got \(1, 1, 16, 16\) \(add a batch axis"),
        # 1D data (batch, history, channels, n) is one axis short too, but is no missing batch axis
        (torch.zeros(64, 1, 1, 64), r"trained on 2D data \(grid \(16, 16\)\), but u0 \(64, 1, 1, 64\) holds 1D states"),
        (torch.zeros(1, 1, 1, 16, 16, dtype=torch.complex64), "real floating-point values"),
        (torch.zeros(1, 1, 1, 16, 16, dtype=torch.bool), "real floating-point values"),
        (torch.full((2, 1, 1, 16, 16), float("nan")), r"non-finite values .* in batch entries \[0, 1\]"),
    ]
    for u0, message in cases:
        with pytest.raises(ValueError, match=message):
            surrogate.predict(u0, 1)


def test_ctrl_c_during_a_checkpoint_write_leaves_a_whole_file_and_no_traceback(tmp_path, monkeypatch):
    original = torch.save

    def interrupted_save(obj, handle):
        os.kill(os.getpid(), signal.SIGINT)  # lands in the middle of the write
        original(obj, handle)

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"weights": torch.ones(3)}, tmp_path / "last.pt")
    monkeypatch.setattr(torch, "save", original)
    assert torch.equal(torch.load(tmp_path / "last.pt", weights_only=True)["weights"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


# --- 3. no silent wrong result --------------------------------------------------------------------------
def test_evaluate_refuses_non_positive_counts_and_predictions_of_other_data(run, data, tmp_path):
    for count in ("-1", "0"):
        result = pdeop("evaluate", run, "--data", data, "--trajectories", count)
        assert result.returncode == 2 and "expected a positive integer" in result.stderr
    predictions = tmp_path / "p.h5"
    assert (
        pdeop(
            "predict",
            run,
            "--input",
            data,
            "--sample",
            "1",
            "--steps",
            "3",
            "--out",
            predictions,
            "--no-solver-timing",
            "--quiet",
        ).returncode
        == 0
    )
    other = pde_data.generate("burgers-fno-tiny", tmp_path / "seed1.h5", 4, seed=1, progress=False)
    assert refused(pdeop("evaluate", "--predictions", predictions, "--data", other), "predicts other data", "seeds")
    shock = pde_data.generate("burgers-shock-tiny", tmp_path / "shock.h5", 4, progress=False)
    assert refused(pdeop("evaluate", "--predictions", predictions, "--data", shock), "coefficients")


def test_evaluate_refuses_a_predictions_file_that_is_missing_not_hdf5_or_a_dataset(data, tmp_path):
    junk = tmp_path / "notes.h5"
    junk.write_text("not HDF5")
    assert refused(pdeop("evaluate", "--predictions", junk, "--data", data), "notes.h5 is not a readable HDF5 file")
    assert refused(pdeop("evaluate", "--predictions", tmp_path / "gone.h5", "--data", data), "no predictions file at")
    assert refused(
        pdeop("evaluate", "--predictions", data, "--data", data),
        "burgers.h5 is a dataset, not a predictions file; pdeop predict RUN --input DATA --out FILE writes predictions",
    )
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["first_frame"] = 0
    assert refused(pdeop("evaluate", "--predictions", other, "--data", data), "lacks the root attribute 'frame_stride'")


def test_corrupted_values_are_reported_warned_about_and_stop_training(data, tmp_path):
    corrupted = tmp_path / "corrupted.h5"
    corrupted.write_bytes(Path(data).read_bytes())
    with h5py.File(corrupted, "a") as f:
        f["t0_fields/u"][2, 4, 7] = np.nan
        f["t0_fields/u"][5, 1, 0] = 3e38
    info = pdeop("info", corrupted)
    assert (
        info.returncode == 0
        and "WARNING      u: 2 non-finite or overflowing values (first at sample 2, frame 4)" in info.stdout
    )
    plot = pdeop("plot", corrupted, "--sample", "2", "--out", tmp_path / "p.png")
    assert plot.returncode == 0 and "non-finite or overflowing values" in plot.stderr
    result = pdeop("train", "--data", corrupted, "--out", tmp_path / "r", "--quiet", "--set", FNO)
    assert refused(result, "contains non-finite values (sample")  # whichever corrupted window comes first
    assert "(sample 2, frame 4)" in result.stderr or "(sample 5, frame 1)" in result.stderr
    assert not (tmp_path / "r").exists()  # a run refused before its first checkpoint leaves no folder


def test_runs_that_fail_before_their_first_checkpoint_leave_no_folder(data, tmp_path):
    """An fp16 run on a CPU, a model that does not fit the grid, a loss that becomes NaN in epoch 1 and a
    validation file of another problem each left config.yaml and an empty checkpoints/ behind."""
    ns = pde_data.generate("ns-fno-1e-3-tiny", tmp_path / "ns.h5", 10, progress=False)
    cases = [
        (["--precision", "fp16", "--device", "cpu"], "fp16"),
        (["--model", "mgno", "--set", "model.hyperparameters={channels: 4, layers: 1, levels: 10}"], "levels"),
        (["--set", "optim.lr=1e6", "--set", "optim.grad_clip=null"], "nan"),
        (["--set", f"data.val_path={ns}"], "(data.val_path) does not hold the same fields as"),
    ]
    for index, (arguments, phrase) in enumerate(cases):
        out = tmp_path / f"run{index}"
        assert refused(
            pdeop("train", "--data", data, "--out", out, "--quiet", "--epochs", "1", "--set", FNO, *arguments), phrase
        )
        assert not out.exists(), (arguments, sorted(p.name for p in out.rglob("*")))


# --- 4. nothing left behind, concurrent runs told apart, merge ----------------------------------------
def test_a_live_lock_is_reported_and_a_dead_ones_taken_over(tmp_path):
    out = tmp_path / "d.h5"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "d.h5.lock").write_text(f'{{"pid": {holder.pid}, "host": "{os.uname().nodename}", "since": "now"}}')
        assert refused(
            pdeop("generate", "ks-lpsda-tiny", "--out", out, "--samples", "2"), f"process {holder.pid}", "is generating"
        )
    finally:
        holder.kill()
        holder.wait()
    result = pdeop("generate", "ks-lpsda-tiny", "--out", out, "--samples", "2", "--quiet")  # the owner is gone
    assert result.returncode == 0 and out.is_file() and not (tmp_path / "d.h5.lock").exists()


def test_a_second_training_process_on_the_same_run_is_told_apart(run):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = run / "train.lock"
        lock.write_text(f'{{"pid": {holder.pid}, "host": "{os.uname().nodename}", "since": "now"}}')
        assert refused(
            pdeop("train", "--resume", "--out", run, "--epochs", "3"), f"process {holder.pid}", "is training"
        )
    finally:
        holder.kill()
        holder.wait()
        lock.unlink()


def test_out_of_memory_is_one_line_and_leaves_nothing(tmp_path):
    arguments = ["--out", tmp_path / "x.h5", "--samples", "2", "--resolution", "65536", "--quiet"]
    result = pdeop("generate", "ns-fno-1e-3-tiny", *arguments)
    assert refused(result, "out of memory solving 2 trajectories at 65536 points per axis", "lower --batch-size")
    assert list(tmp_path.iterdir()) == []


def test_merge_writes_the_bytes_of_a_single_run(tmp_path):
    single = pde_data.generate("ks-lpsda-tiny", tmp_path / "single.h5", 70, batch_size=8, progress=False)
    for i in range(3):
        pde_data.generate("ks-lpsda-tiny", tmp_path / "m.h5", 70, batch_size=8, shard=f"{i}/3", progress=False)
    assert pde_data.merge_shards(tmp_path / "m.h5").read_bytes() == single.read_bytes()


def _held_by_a_live_process(output: Path) -> None:
    """The lock a running pdeop writer of ``output`` holds (this test process stands in for it)."""
    import json
    import socket

    output.with_name(output.name + ".lock").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))


def test_a_second_writer_of_the_same_output_is_refused_while_the_first_runs(run, data, tmp_path):
    """Two predicts (or converts) into one file both printed 'wrote' and the later replaced the other's file."""
    out = tmp_path / "same.h5"
    _held_by_a_live_process(out)
    result = pdeop("predict", run, "--input", data, "--sample", "0", "--steps", "2", "--out", out, "--quiet")
    assert refused(result, f"is predicting to {out}")
    torch.save({"x": torch.randn(4, 16), "y": torch.randn(4, 16)}, tmp_path / "pairs.pt")
    result = pdeop("convert", tmp_path / "pairs.pt", "--from", "neuraloperator-pt", "--out", out, "--quiet")
    assert refused(result, f"is converting to {out}")
    assert not out.exists()


def test_an_output_that_appeared_meanwhile_is_kept_without_overwrite(tmp_path):
    from pde_data.storage import atomic_output

    out = tmp_path / "out.h5"
    with pytest.raises(ValueError, match="appeared while this command ran; pass --overwrite"):
        with atomic_output(out, replace=False) as temporary:
            temporary.write_text("ours")
            out.write_text("theirs")  # another program wrote it meanwhile
    assert out.read_text() == "theirs" and sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]
    with atomic_output(out, replace=True) as temporary:  # --overwrite
        temporary.write_text("ours")
    assert out.read_text() == "ours"


def test_the_temporaries_of_a_killed_writer_are_removed_by_the_next(run, data, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = tmp_path / f".p.h5.tmp-{int(dead.stdout)}"  # what kill -9 during pdeop predict leaves
    left.write_bytes(b"partial")
    result = pdeop(
        "predict",
        run,
        "--input",
        data,
        "--sample",
        "0",
        "--steps",
        "2",
        "--out",
        tmp_path / "p.h5",
        "--quiet",
        "--no-solver-timing",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.h5"]


def test_a_conversion_error_starts_a_line_of_its_own_after_the_progress_bar(tmp_path):
    torch.save({"x": torch.full((4, 16), float("nan")), "y": torch.randn(4, 16)}, tmp_path / "nan.pt")
    result = pdeop("convert", tmp_path / "nan.pt", "--from", "neuraloperator-pt", "--out", tmp_path / "out.h5")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.replace("\r", "\n").splitlines() if "non-finite" in line]
    assert len(lines) == 1 and lines[0].startswith("pdeop convert: error:"), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.pt"]


def test_small_files_train_a_smoke_test(tmp_path):
    """A first smoke test on a file of 2 or 6 trajectories ended in "split 'valid' ... is empty": 3 or more keep
    one each for validation and test, fewer train without validation and say so in one line."""
    from pde_data.loading import split_samples

    assert [split_samples(6, "train", s) for s in ("train", "valid", "test")] == [[0, 1, 2, 3], [4], [5]]
    assert split_samples(20, "train", "valid") == [16, 17]  # files that divide by fractions divide as before
    six = pde_data.generate("burgers-fno-tiny", tmp_path / "six.h5", 6, progress=False)
    result = pdeop("train", "--data", six, "--out", tmp_path / "six", "--epochs", "1", "--quiet", "--set", FNO)
    assert result.returncode == 0 and "note:" not in result.stderr, result.stderr[-2000:]
    two = pde_data.generate("burgers-fno-tiny", tmp_path / "two.h5", 2, progress=False)
    result = pdeop("train", "--data", two, "--out", tmp_path / "two", "--epochs", "2", "--quiet", "--set", FNO)
    assert result.returncode == 0, result.stderr[-2000:]
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "training without validation (set data.val_path" in notes[0]
    assert isinstance(operators.load(tmp_path / "two"), Surrogate)  # best.pt: the last epoch's weights
    result = pdeop(
        "train",
        "--data",
        two,
        "--out",
        tmp_path / "val",
        "--epochs",
        "1",
        "--quiet",
        "--set",
        FNO,
        "--set",
        f"data.val_path={six}",
        "--set",
        "data.val_split=test",
    )
    assert result.returncode == 0 and "note:" not in result.stderr, result.stderr[-2000:]


# --- 5. long predictions stream -------------------------------------------------------------------------
def test_long_predictions_stream_in_pieces_with_the_same_values(run, data, tmp_path, monkeypatch):
    import training.prediction as prediction

    monkeypatch.setattr(prediction, "PIECE_BYTES", 3 * 4 * 64)  # three states per piece
    summary = prediction.predict_to_file(run, data, tmp_path / "p.h5", 10, [0], progress=False, solver_frames=4)
    assert "timed over 4 of 10 frames and scaled" in summary
    surrogate = Surrogate.load(run)
    given = pde_data.TrajectoryDataset(data, split=None).read(0, slice(0, 1))[None]
    expected = surrogate.predict(given, 10)[0, :, 0]
    with h5py.File(tmp_path / "p.h5", "r") as f:
        assert np.array_equal(f["t0_fields/u"][0], expected.numpy())
    result = pdeop(
        "predict",
        run,
        "--input",
        data,
        "--sample",
        "0",
        "--steps",
        "5",
        "--out",
        tmp_path / "q.h5",
        "--no-solver-timing",
    )
    assert result.returncode == 0 and "solver:" not in result.stdout and "predict -> q.h5" in result.stderr


def test_predictions_larger_than_the_disk_are_refused_before_any_work(run, data, tmp_path):
    """--steps 100000000 ended in numpy's _ArrayMemoryError (29.8 GiB); the file is streamed, so only the disk
    limits it, and a prediction that cannot fit is refused in one line with the size it needs."""
    result = pdeop("predict", run, "--input", data, "--steps", "100000000000", "--out", tmp_path / "p.h5")
    assert refused(result, "--steps 100000000000 would write", "TiB to", "free on its disk")
    assert list(tmp_path.iterdir()) == []


# --- 7. docs that hold ----------------------------------------------------------------------------------
def test_the_readme_predict_then_evaluate_sequence_works_on_the_tiny_preset(tmp_path):
    data = pde_data.generate("ns-fno-1e-3-tiny", tmp_path / "ns.h5", 12, progress=False)  # 5 frames stored
    config = load_config(None, [f"data.path={data}", FNO, "train.epochs=1", "train.device=cpu"])
    train(config, tmp_path / "runs" / "ns", progress=False, evaluate=False)
    predicted = pdeop(
        "predict",
        tmp_path / "runs" / "ns",
        "--input",
        data,
        "--sample",
        "0",
        "--steps",
        "10",
        "--out",
        tmp_path / "pred.h5",
        "--quiet",
    )
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    scored = pdeop("evaluate", "--predictions", tmp_path / "pred.h5", "--data", data)
    assert scored.returncode == 0, scored.stderr[-2000:]
    assert "scored the first 4 of 10 predicted states" in scored.stdout
    # trajectory 0 is a training trajectory: its scores are labelled so; a test trajectory's are not
    assert "warning: trajectories [0] lie in the training split" in scored.stderr
    assert json.loads((tmp_path / "pred-evaluation" / "evaluation.json").read_text())["training_samples"] == [0]
    predicted = pdeop(
        "predict",
        tmp_path / "runs" / "ns",
        "--input",
        data,
        "--sample",
        "11",
        "--steps",
        "2",
        "--out",
        tmp_path / "test.h5",
        "--quiet",
        "--no-solver-timing",
    )
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    scored = pdeop("evaluate", "--predictions", tmp_path / "test.h5", "--data", data)
    assert scored.returncode == 0 and "warning" not in scored.stderr, scored.stderr[-2000:]


def test_a_closed_output_pipe_ends_the_command_quietly(tmp_path):
    # more output than a pipe buffers (64 KiB), so the write after `head` has gone fails
    many = pde_data.generate("ks-lpsda-tiny", tmp_path / "many.h5", 400, batch_size=400, progress=False)
    command = f"{sys.executable} -m training.cli info {many} --captions 400 | head -1"
    result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith(str(many)) and result.stderr == "", result.stderr[-2000:]


def test_the_solver_demo_checks_kuramoto_sivashinsky():
    from solvers.demo import verification_rows

    rows = {row[0]: row for row in verification_rows()}
    assert rows["KS1D vs KS2D"][2] < 1e-10


def test_gitignore_covers_the_quickstart_folder():
    assert "quickstart/" in (Path(__file__).resolve().parents[1] / ".gitignore").read_text().splitlines()


# --- 8. figures people can read ---------------------------------------------------------------------------
def test_prediction_figures_have_colour_bars_and_an_error_scale_of_their_own():
    from training.evaluation.figures import _plot_1d, _plot_2d

    truth = np.sin(np.linspace(0, 6, 5 * 32)).reshape(5, 32)
    prediction = truth + 1e-3
    fig = _plot_1d(prediction, truth, "u", np.linspace(0, 1, 32, endpoint=False), 1.0)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["truth", "prediction", "error"] and len(fig.axes) == 6  # 3 bars
    assert panels[2].images[0].get_clim() == pytest.approx((-1e-3, 1e-3), rel=1e-3)  # not the truth's scale
    assert panels[0].get_ylabel() == "x" and panels[0].get_xlim()[0] == pytest.approx(0.5)  # steps from 1
    single = _plot_1d(prediction[:1], truth[:1], "u", None, 1.0)  # the operator task's single step: profiles
    assert len(single.axes) == 2 and len(single.axes[0].lines) == 2
    fig = _plot_2d(np.zeros((1, 8, 8)), np.ones((1, 8, 8)), "vorticity", 1.0, 1.0)
    assert len(fig.axes) == 3 + 3 and fig.axes[0].get_title() == "truth, step 1"


def test_the_error_curve_shows_a_single_step_with_markers_inside_the_axes(tmp_path):
    from training.evaluation.figures import plot_error_curves

    report = {"model": {"curves": {"relative_l2": [0.02]}}, "persistence": {"curves": {"relative_l2": [0.9]}}}
    ax = plot_error_curves(report, tmp_path / "e.png", "one step").axes[0]
    assert [line.get_marker() for line in ax.lines] == ["o", "s"]  # a single point is visible
    low, high = ax.get_ylim()
    assert low < 0.02 and 0.9 < high and ax.get_xlim() == (0.5, 1.5)
    assert (tmp_path / "e.png").is_file()


# --- 6. usable on a busy machine ------------------------------------------------------------------------
def test_every_command_takes_threads_and_the_wait_policy_is_set_before_torch_loads(data):
    from training.cli import build_parser

    parser = build_parser()
    for command in ("generate", "merge", "info", "plot", "train", "evaluate", "predict", "quickstart"):
        assert "--threads" in parser._subparsers._group_actions[0].choices[command].format_help()
    # training.cli sets the policy first thing, and what it imports to do so does not load torch
    probe = (
        "import os, sys, training.threads; assert 'torch' not in sys.modules; import training.cli; "
        "print(os.environ.get('OMP_WAIT_POLICY', ''))"
    )
    environment = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environment)
    assert out.returncode == 0, out.stderr[-2000:]
    if (os.cpu_count() or 1) <= 2:  # the measured regime; larger machines keep OpenMP's default
        assert out.stdout.strip() == "PASSIVE"
    result = pdeop("info", data, "--threads", "1")
    assert result.returncode == 0 and "burgers-fno-tiny" in result.stdout
    assert pdeop("info", data, "--threads", "0").returncode == 2


def test_thread_defaults_follow_the_machine_and_the_environment(monkeypatch):
    from solvers import InputError
    from training import threads

    monkeypatch.delenv("PDEOP_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert threads.default_threads() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 32)
    assert threads.default_threads() is None  # unmeasured: torch's own default
    monkeypatch.setenv("PDEOP_THREADS", "3")
    assert threads.default_threads() == 3
    monkeypatch.setenv("PDEOP_THREADS", "many")
    with pytest.raises(InputError, match="PDEOP_THREADS must be a positive integer"):
        threads.default_threads()
