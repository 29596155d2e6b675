"""ETDRK4 with its stage combinations in real arithmetic, fused by inductor: faster than eager, and than exponax?

    python benchmarks/fused_etdrk.py                         # KS N=256, batches 4, 64 and 512, float32
    python benchmarks/fused_etdrk.py --batches 4 --repeats 5 --unroll 10

The eager ETDRK4 step (``solvers.etdrk._etdrk4``) makes 8 FFTs and about 14 complex elementwise operations,
each a separate pass over the state and a separate call through Python. ``torch.compile`` generates no
code for complex operators (inductor falls back to the eager kernels), so compiling the step as written
fuses nothing. This benchmark writes the stage combinations with real and imaginary parts as the last axis
of float tensors (``torch.view_as_real``), so that inductor fuses them into a few passes, and leaves the
FFTs (a library call either way) and the equation's own nonlinear product as they are. Contestants, taking
turns (``_common.take_turns``) on the KS case of ``solver_throughput.py`` (N = 256, L = 64, dt = 0.25,
``--steps`` ETDRK4 steps, float32, final state only), one torch thread:

- ``eager``: the solver as users run it (``solver.step``);
- ``compiled``: ``torch.compile`` of ``--unroll`` eager steps (complex arithmetic, so inductor's fallbacks);
- ``compiled real``: ``torch.compile`` of ``--unroll`` real-arithmetic steps;
- ``exponax``: jit + vmap through XLA (when installed: ``pip install -e '.[bench]'``).

The compiled contestants call their compiled block ``steps / unroll`` times (a block of several steps
amortises the compiled call's own overhead; compile time is reported apart). ``rel. diff`` is the relative
difference of each contestant's state from the eager solver's after one step (float32 rounding is ~1e-7)
and after all steps (KS is chaotic, so rounding differences grow). Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import statistics
import time

import _common
import solver_throughput as throughput
import torch

#: the precombined ETDRK4 coefficients (``solvers.etdrk.ETDRKStepper``) the step uses
COEFFICIENTS = ("E", "E_half", "Q_half", "Q_half_x2", "Q_third", "f1", "f2x2", "f3")


def complex_times(c: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``c * x`` for complex numbers stored as real pairs on the last axis (``(..., 2)`` float)."""
    cr, ci = c.unbind(-1)
    xr, xi = x.unbind(-1)
    return torch.stack((cr * xr - ci * xi, cr * xi + ci * xr), dim=-1)


def real_etdrk4_step(coefficients: dict[str, torch.Tensor], v: torch.Tensor, nonlinear) -> torch.Tensor:
    """One ETDRK4 step as ``solvers.etdrk._etdrk4`` combines it, on real pairs ``v`` ``(batch, *spectral, 2)``;
    ``nonlinear`` maps a complex spectral state to its complex tendency."""
    c = coefficients

    def n_of(x: torch.Tensor) -> torch.Tensor:
        return torch.view_as_real(nonlinear(torch.view_as_complex(x.contiguous())))

    nv = n_of(v)
    ev_half = complex_times(c["E_half"], v)
    a = ev_half + complex_times(c["Q_half"], nv)
    na = n_of(a)
    b = ev_half + complex_times(c["Q_half"], na)
    nb = n_of(b)
    ev = complex_times(c["E"], v)
    third = ev + complex_times(c["Q_half_x2"], nb) + complex_times(c["Q_third"], nv)
    nc = n_of(third)
    return ev + complex_times(c["f1"], nv) + complex_times(c["f2x2"], na + nb) + complex_times(c["f3"], nc)


def compiled_block(step, unroll: int):
    """``torch.compile`` of ``unroll`` consecutive calls of ``step`` (one graph)."""

    def block(v: torch.Tensor) -> torch.Tensor:
        for _ in range(unroll):
            v = step(v)
        return v

    return torch.compile(block, fullgraph=True, dynamic=False)


def measure(batch: int, steps: int, unroll: int, repeats: int, with_exponax: bool) -> dict:
    torch._dynamo.reset()  # each batch compiles anew (fixed shapes), within dynamo's recompile limit
    case = throughput.Case("ks", 256, batch, steps, "float32")
    solver = throughput.pdeop_solver("ks", case.n, torch.float32, "cpu")
    u0 = throughput.initial_state("ks", case.n, batch, torch.float32, "cpu")
    stepper = solver.stepper
    v0 = solver.to_spectral(u0)
    pairs = {name: torch.view_as_real(stepper.coefficients[name]).contiguous() for name in COEFFICIENTS}
    eager_block = compiled_block(stepper, unroll)
    real_block = compiled_block(lambda x: real_etdrk4_step(pairs, x, stepper.nonlinear), unroll)
    blocks = steps // unroll
    compile_seconds = {}
    with torch.inference_mode():
        for name, block, start in (
            ("compiled", eager_block, v0),
            ("compiled real", real_block, torch.view_as_real(v0).contiguous()),
        ):
            begin = time.perf_counter()
            block(start)
            compile_seconds[name] = time.perf_counter() - begin

        def run_compiled() -> torch.Tensor:
            v = v0
            for _ in range(blocks):
                v = eager_block(v)
            return v

        def run_real() -> torch.Tensor:
            v = torch.view_as_real(v0).contiguous()
            for _ in range(blocks):
                v = real_block(v)
            return torch.view_as_complex(v)

        reference = solver.to_spectral(solver.step(u0, blocks * unroll))
        one_step = stepper(v0)
        one_real = torch.view_as_complex(
            real_etdrk4_step(pairs, torch.view_as_real(v0).contiguous(), stepper.nonlinear)
        )

    def relative(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).abs().max() / b.abs().max())

    with torch.inference_mode():
        differences = {
            "compiled": relative(run_compiled(), reference),
            "compiled real": relative(run_real(), reference),
        }
    runs = {
        "eager": throughput.pdeop_run(case, "cpu"),
        "compiled": _inference(run_compiled),
        "compiled real": _inference(run_real),
    }
    if with_exponax:
        runs["exponax"] = throughput.exponax_run(case)
    seconds = throughput.interleaved_seconds(runs, repeats)
    row = {
        "batch": batch,
        "steps": blocks * unroll,
        "unroll": unroll,
        "one_step_relative_difference_real": relative(one_real, one_step),
        "final_relative_difference": differences,
        "compile_seconds": compile_seconds,
        "seconds": {name: statistics.median(values) for name, values in seconds.items()},
    }
    row["eager_over"] = {name: _common.median_ratio(seconds["eager"], values) for name, values in seconds.items()}
    return row


def _inference(run):
    def call() -> None:
        with torch.inference_mode():
            run()

    return call


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", nargs="+", type=int, default=[4, 64, 512])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--unroll", type=int, default=10, help="steps per compiled block")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", default="benchmarks/results/fused_etdrk.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        import exponax  # noqa: F401

        with_exponax = True
    except ImportError:
        with_exponax = False
        print("exponax is not installed (pip install -e '.[bench]'): its column is left out")
    print(f"KS N=256, ETDRK4, float32, torch {torch.__version__}, 1 thread; seconds are medians of {args.repeats}")
    print("batch | contestant | seconds | eager / it | rel. diff (all steps) | compile s")
    rows = []
    for batch in args.batches:
        row = measure(batch, args.steps, args.unroll, args.repeats, with_exponax)
        for name, seconds in row["seconds"].items():
            difference = row["final_relative_difference"].get(name, 0.0)
            compile_time = row["compile_seconds"].get(name, 0.0)
            print(
                f"{batch} | {name} | {seconds:.4f} | {row['eager_over'][name]:.2f} | {difference:.1e} | "
                f"{compile_time:.1f}",
                flush=True,
            )
        print(f"{batch} | real-arithmetic step vs eager after one step: {row['one_step_relative_difference_real']:.1e}")
        rows.append(row)
    _common.write_json({"torch_threads": torch.get_num_threads(), "rows": rows}, args.json)
    return rows


if __name__ == "__main__":
    main()
