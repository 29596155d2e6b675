"""Why small 1D batches stay behind exponax on a CPU: the KS solve with and without Python's dispatch.

    python benchmarks/dispatch_bound.py                      # KS N=256, batches 4 and 64, float32
    python benchmarks/dispatch_bound.py --batches 4 16 64 --repeats 9

Five contestants take turns (``_common.take_turns``) on the same Kuramoto-Sivashinsky case as
``solver_throughput.py`` (N = 256, L = 64, dt = 0.25, 200 ETDRK4 steps, float32, final state only):

- ``pdeop``: the solver as users run it (``solver.step``; eager torch, one call per operation);
- ``scripted``: the same ETDRK4 loop (the solver's own coefficients, checked equal to its states)
  compiled by TorchScript, which runs the whole loop in C++ with no Python between operations;
- ``floor`` / ``scripted floor``: the loop's FFTs alone (8 per step), eager and scripted;
- ``exponax``: jit + vmap through XLA, as in ``solver_throughput.py``.

``scripted`` is what removing the interpreter's per-operation cost gives, and ``scripted floor`` is
the FFT library's own time; what remains between them is the elementwise work that a fused kernel
(XLA's, or a custom one) would fold into the FFT passes. TorchScript is deprecated in torch 2.x and
so is measured here, not used by the solvers. Needs exponax (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from dataclasses import asdict, dataclass

import _common
import solver_throughput as throughput
import torch

#: the solver's precombined ETDRK4 coefficients, in the scripted loop's argument order
COEFFICIENTS = ("E", "E_half", "Q_half", "Q_half_x2", "Q_third", "f1", "f2x2", "f3")


def _square_transform(v: torch.Tensor, n: int) -> torch.Tensor:
    u = torch.fft.irfft(v, n=n)
    return torch.fft.rfft(u * u)  # KS's -(u^2/2)_x: the derivative and 1/2 live in the coefficients


def _ks_loop(
    v: torch.Tensor,
    e: torch.Tensor,
    e_half: torch.Tensor,
    q_half: torch.Tensor,
    q_half_x2: torch.Tensor,
    q_third: torch.Tensor,
    f1: torch.Tensor,
    f2x2: torch.Tensor,
    f3: torch.Tensor,
    n: int,
    steps: int,
) -> torch.Tensor:
    # solvers.etdrk._etdrk4 with KS's nonlinear product written in (TorchScript takes no callables)
    for _ in range(steps):
        nv = _square_transform(v, n)
        ev_half = e_half * v
        a = torch.addcmul(ev_half, q_half, nv)
        na = _square_transform(a, n)
        b = ev_half.addcmul_(q_half, na)
        nb = _square_transform(b, n)
        ev = e * v
        third = torch.addcmul(ev, q_half_x2, nb).addcmul_(q_third, nv)
        nc = _square_transform(third, n)
        v = ev.addcmul_(f1, nv).addcmul_(f2x2, na).addcmul_(f2x2, nb).addcmul_(f3, nc)
    return v


def _fft_loop(v: torch.Tensor, n: int, steps: int) -> torch.Tensor:
    for _ in range(4 * steps):  # chained, so that no transform is dead code to the compiler
        v = torch.fft.rfft(torch.fft.irfft(v, n=n))
    return v


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # measured here on purpose; see the docstring
    scripted_ks_loop = torch.jit.script(_ks_loop)
    scripted_fft_loop = torch.jit.script(_fft_loop)


@dataclass
class Row:
    batch: int
    steps: int
    pdeop_seconds: float
    scripted_seconds: float
    floor_seconds: float
    scripted_floor_seconds: float
    exponax_seconds: float
    pdeop_over_scripted: float
    exponax_over_pdeop: float
    exponax_over_scripted: float
    scripted_floor_over_exponax: float
    scripted_matches_solver: float


def _one_thread(run):
    """``run`` on one torch thread, in inference mode (the solver steps a cache-sized batch so)."""

    def timed() -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                run()
        finally:
            torch.set_num_threads(threads)

    return timed


def measure(batch: int, steps: int, repeats: int) -> Row:
    case = throughput.Case("ks", 256, batch, steps, "float32")
    solver = throughput.pdeop_solver("ks", case.n, torch.float32, "cpu")
    u0 = throughput.initial_state("ks", case.n, batch, torch.float32, "cpu")
    v = solver.to_spectral(u0)
    coefficients = [solver.stepper.coefficients[name] for name in COEFFICIENTS]
    with torch.inference_mode():
        difference = scripted_ks_loop(v, *coefficients, case.n, steps) - solver.to_spectral(solver.step(u0, steps))
        matches = float(difference.abs().max() / v.abs().max())
    runs = {
        "pdeop": throughput.pdeop_run(case, "cpu"),
        "scripted": _one_thread(lambda: scripted_ks_loop(v, *coefficients, case.n, steps)),
        "floor": throughput.fft_floor_run(case, "cpu"),
        "scripted floor": _one_thread(lambda: scripted_fft_loop(v, case.n, steps)),
        "exponax": throughput.exponax_run(case),
    }
    seconds = throughput.interleaved_seconds(runs, repeats)
    ratio = _common.median_ratio
    return Row(
        batch=batch,
        steps=steps,
        pdeop_seconds=statistics.median(seconds["pdeop"]),
        scripted_seconds=statistics.median(seconds["scripted"]),
        floor_seconds=statistics.median(seconds["floor"]),
        scripted_floor_seconds=statistics.median(seconds["scripted floor"]),
        exponax_seconds=statistics.median(seconds["exponax"]),
        pdeop_over_scripted=ratio(seconds["pdeop"], seconds["scripted"]),
        exponax_over_pdeop=ratio(seconds["exponax"], seconds["pdeop"]),
        exponax_over_scripted=ratio(seconds["exponax"], seconds["scripted"]),
        scripted_floor_over_exponax=ratio(seconds["scripted floor"], seconds["exponax"]),
        scripted_matches_solver=matches,
    )


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", nargs="+", type=int, default=[4, 64])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=9, help="rounds in which every contestant runs once")
    parser.add_argument("--json", default="benchmarks/results/dispatch_bound.json")
    args = parser.parse_args(argv)
    try:
        import exponax  # noqa: F401
    except ImportError:
        parser.exit(2, "exponax is not installed; it is the reference here: pip install -e '.[bench]'\n")
    print(f"KS N=256, {args.steps} ETDRK4 steps, float32, torch {torch.__version__}; seconds are medians")
    columns = ("batch", "pdeop s", "scripted s", "floor s", "scripted floor s", "exponax s")
    columns += ("pdeop/scripted", "exponax/pdeop", "exponax/scripted", "scripted floor/exponax")
    print(" | ".join(columns))
    rows = []
    for batch in args.batches:
        row = measure(batch, args.steps, args.repeats)
        values = list(asdict(row).values())
        print(f"{row.batch} | " + " | ".join(f"{value:.4f}" for value in values[2:7]), end=" | ")
        print(" | ".join(f"{value:.2f}" for value in values[7:11]), flush=True)
        if row.scripted_matches_solver > 1e-4:
            print(f"  warning: the scripted loop differs from the solver by {row.scripted_matches_solver:.1e}")
        rows.append(row)
    # the scripted loops run on one thread; the solver on one per chunk, its chunks on torch's threads
    _common.write_json({"torch_threads": torch.get_num_threads(), "rows": [asdict(row) for row in rows]}, args.json)
    return rows


if __name__ == "__main__":
    main()
