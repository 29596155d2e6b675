"""Inference levers, one at a time: what each engineering setting does to a trained surrogate's rollout time.

    python benchmarks/inference_levers.py --runs benchmarks/results/bench-ns-1e-3/models
    python benchmarks/inference_levers.py --runs RUN ... --levers baseline no-grad grad channels-last --repeats 5

Each run folder (``checkpoints/best.pt``, or a bench's ``models/<name>/run``) holding a surrogate or an
observer (forecasting from its last state; only ``baseline``, ``fast``, ``threads-N`` and ``call-batch-N``
apply to it) is rolled out ``--steps`` steps at batch ``--batch`` from its test-like random states, once per lever and round, the
levers taking turns within each round (``_common.take_turns``) so that a drift of the machine's speed falls
on all of them; median seconds per trajectory. Levers, each changed alone against ``baseline``
(``Surrogate.predict`` with ``fast_inference(False)``: fp32 under ``torch.inference_mode``, weights in the plain
memory layout, the threads the script runs with):

- ``no-grad``: the same rollout under ``torch.no_grad`` instead of inference mode;
- ``grad``: autograd recording, what calling the model by hand without either costs;
- ``channels-last``: the network's weights in channels-last memory format (2D models): what
  ``Surrogate.fast_inference`` (the default) does for models with spatial 2D convolutions;
- ``bf16``: bf16 autocast (the accuracy it costs is the ``rel. L2 vs baseline`` column);
- ``compile``: ``torch.compile`` of the network (inductor; the compile time is reported apart);
- ``threads-N``: ``torch.set_num_threads(N)`` for that lever's calls;
- ``call-batch-N``: the batch rolled out ``N`` trajectories at a time (``Surrogate.fast_inference``'s
  ``call_batch``; fast inference on the CPU gives a call ``CPU_CALL_POINTS`` grid points);
- ``fast``: ``Surrogate.fast_inference()``, the default of ``predict``: the levers it keeps, together.

Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import time
from pathlib import Path

import _common
import torch
from inference import run_folders

import operators
from training.evaluation.metrics import relative_l2
from training.threads import apply_threads

LEVERS = ("baseline", "no-grad", "grad", "channels-last", "bf16", "compile")


def observer_lever(name: str) -> bool:
    """Whether lever ``name`` applies to an observer (its forecast loop calls its network's ``forecast``)."""
    return name in ("baseline", "fast") or name.startswith(("threads-", "call-batch-"))


def rollout(surrogate: operators.Surrogate, u0: torch.Tensor, steps: int, mode) -> torch.Tensor:
    """``surrogate``'s rollout under the autograd ``mode`` (a context manager factory), fp32."""
    mean = surrogate.mean.reshape(1, 1, -1, *(1,) * (u0.dim() - 3))
    std = surrogate.std.reshape(mean.shape)
    with mode():
        window = (u0[:, -surrogate.history :] - mean) / std
        states, _ = surrogate._advance(window, steps)
        return (states * std + mean).detach()


def lever_call(name: str, surrogate: operators.Surrogate, u0: torch.Tensor, steps: int):
    """``(call, setup seconds)`` for lever ``name``; None where it does not apply to this model."""
    if name == "baseline":
        return (lambda: surrogate.predict(u0, steps)), 0.0
    if name == "no-grad":
        return (lambda: rollout(surrogate, u0, steps, torch.no_grad)), 0.0
    if name == "grad":
        return (lambda: rollout(surrogate, u0, steps, contextlib.nullcontext)), 0.0
    if name == "bf16":
        return (lambda: surrogate.predict(u0, steps, "bf16")), 0.0
    if name.startswith("threads-"):
        count = int(name.split("-", 1)[1])

        def threaded():
            before = torch.get_num_threads()
            torch.set_num_threads(count)
            try:
                return surrogate.predict(u0, steps)
            finally:
                torch.set_num_threads(before)

        return threaded, 0.0
    variant = copy.copy(surrogate)
    if name.startswith("call-batch-"):
        variant.call_batch = int(name.rsplit("-", 1)[1])  # fast inference stays off: only the split changes
        return (lambda: variant.predict(u0, steps)), 0.0
    if name == "fast":
        variant.model = copy.deepcopy(surrogate.model)  # its channels-last weights must not reach the others
        variant.fast_inference(True)
        return (lambda: variant.predict(u0, steps)), 0.0
    if name == "channels-last":
        if u0.dim() != 5:
            return None
        variant.model = copy.deepcopy(surrogate.model).to(memory_format=torch.channels_last)
        # the copy still records the plain layout (fast_inference is off), so predict leaves these weights alone
        return (lambda: variant.predict(u0, steps)), 0.0
    if name == "compile":
        variant.model = torch.compile(surrogate.model)
        start = time.perf_counter()
        variant.predict(u0, 1)  # compiles
        return (lambda: variant.predict(u0, steps)), time.perf_counter() - start
    raise SystemExit(f"unknown lever {name!r}; known: {', '.join(LEVERS)}, threads-N, call-batch-N")


def measure(run: Path, args) -> list[dict]:
    surrogate = operators.load(run)
    if not hasattr(surrogate, "fast_inference"):
        return []  # generators sample: none of these levers is theirs
    surrogate.fast_inference(False)
    # an observer forecasts from its last state and keeps its normalisation in its network
    scales = surrogate if isinstance(surrogate, operators.Surrogate) else surrogate.model
    grid = tuple(surrogate.metadata["grid"])
    shape = (args.batch, surrogate.history, len(scales.mean), *grid)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    u0 = noise * scales.std.reshape(1, 1, -1, *(1,) * len(grid)) + scales.mean.reshape(1, 1, -1, *(1,) * len(grid))
    calls, setup = {}, {}
    for name in args.levers:
        if not isinstance(surrogate, operators.Surrogate) and not observer_lever(name):
            continue  # an observer's own loop has no precision, autograd, layout or compile setting
        made = lever_call(name, surrogate, u0, args.steps)
        if made is not None:
            calls[name], setup[name] = made
    outputs = {name: call() for name, call in calls.items()}  # warm-up, and each lever's answer
    times = _common.take_turns({name: (lambda c=call: _timed(c)) for name, call in calls.items()}, args.repeats)
    base = statistics.median(times["baseline"])
    model = surrogate.metadata.get("model", run.parent.name)
    rows = []
    for name in calls:
        seconds = statistics.median(times[name])
        rows.append(
            {
                "model": model,
                "run": str(run),
                "lever": name,
                "batch": args.batch,
                "steps": args.steps,
                "seconds_per_trajectory": seconds / args.batch,
                "speedup_vs_baseline": base / seconds,
                "relative_l2_vs_baseline": float(relative_l2(outputs[name].float(), outputs["baseline"])),
                "setup_seconds": setup[name],
                "seconds": times[name],
            }
        )
    return rows


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True)
    parser.add_argument("--levers", nargs="+", default=[*LEVERS, "threads-2", "call-batch-8", "fast"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default="benchmarks/results/inference-levers.json")
    args = parser.parse_args(argv)
    if "baseline" not in args.levers:
        args.levers.insert(0, "baseline")
    apply_threads(args.threads)
    print(
        f"cpu, {torch.get_num_threads()} torch thread(s), batch {args.batch}, {args.steps} steps, "
        f"median of {args.repeats} rounds (levers in turn)"
    )
    print(f"{'model':<10} {'lever':<14} {'s / traj.':>10} {'speed-up':>9} {'rel. L2 vs base':>15} {'setup s':>8}")
    rows = []
    for run in run_folders(args.runs):
        for row in measure(run, args):
            rows.append(row)
            print(
                f"{row['model']:<10} {row['lever']:<14} {row['seconds_per_trajectory']:>10.3e} "
                f"{row['speedup_vs_baseline']:>8.2f}x {row['relative_l2_vs_baseline']:>15.2e} "
                f"{row['setup_seconds']:>8.1f}",
                flush=True,
            )
    _common.write_json({"threads": torch.get_num_threads(), "rows": rows}, args.json)
    return rows


if __name__ == "__main__":
    main()
