"""The data commands of ``pdeop``: generate, merge, info, plot; happy paths and bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from training.cli import main


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_generate_info_plot_and_animate(tmp_path, capsys):
    data = tmp_path / "burgers.h5"
    status, out, _ = run(capsys, "generate", "burgers-fno-tiny", "--out", data, "--samples", "3", "--quiet")
    assert status == 0 and f"wrote {data}" in out
    status, out, _ = run(capsys, "info", data)
    assert status == 0
    for text in ("burgers-fno-tiny", "u_t + u u_x = nu u_xx", "nu = 0.1", "(3, 11, 64)", "caption[0]", "std"):
        assert text in out
    status, out, _ = run(
        capsys, "plot", data, "--sample", "1", "--out", tmp_path / "b.png", "--animate", tmp_path / "b.gif"
    )
    assert status == 0
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "b.gif").read_bytes()[:3] == b"GIF"


def test_plot_of_a_2d_dataset(tmp_path, capsys):
    data = tmp_path / "ns.h5"
    assert run(capsys, "generate", "ns-fno-1e-5-tiny", "--out", data, "--samples", "1", "--quiet")[0] == 0
    assert run(capsys, "plot", data, "--out", tmp_path / "ns.png")[0] == 0
    assert (tmp_path / "ns.png").stat().st_size > 1000


def test_sharded_generation_and_merge(tmp_path, capsys):
    data = tmp_path / "ks.h5"
    for index in range(2):
        command = [
            "generate",
            "ks-lpsda-tiny",
            "--out",
            data,
            "--samples",
            "4",
            "--batch-size",
            "2",
            "--shard",
            f"{index}/2",
        ]
        assert run(capsys, *command, "--quiet")[0] == 0
    status, _out, _ = run(capsys, "merge", data)
    assert status == 0 and data.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "nope", "--out", "{tmp}/x.h5"], "unknown preset 'nope'; known presets: burgers-fno"),
        (["generate", "ks-lpsda-tiny", "--out", "{tmp}/x.h5", "--samples", "-2"], "must be a positive integer"),
        (["generate", "ks-lpsda-tiny", "--out", "{tmp}/missing/x.h5"], "does not exist"),
        (["generate", "ks-lpsda-tiny", "--out", "{tmp}/x.h5", "--shard", "1-2"], "expected I/K"),
        (["info", "{tmp}/missing.h5"], "no dataset file"),
        (["plot", "{tmp}/missing.h5", "--out", "{tmp}/a.png"], "no dataset file"),
        (["plot", "{tmp}/missing.h5"], "nothing to write"),
        (["merge", "{tmp}/x.h5"], "no shard files found"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path, capsys, argv, message):
    status, _out, err = run(capsys, *(a.replace("{tmp}", str(tmp_path)) for a in argv))
    assert status == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_the_console_script_runs():
    executable = shutil.which("pdeop")
    command = [executable] if executable else [sys.executable, "-m", "training.cli"]
    result = subprocess.run([*command, "generate", "--help"], capture_output=True, text=True, check=True)
    assert "ks-lpsda-tiny" in result.stdout and "--resume" in result.stdout and "torchrun" in result.stdout
