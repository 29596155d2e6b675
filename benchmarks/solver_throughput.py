"""Solver throughput: state-steps per second per equation, batch and precision, vs exponax.

    python benchmarks/solver_throughput.py                 # 2-core CPU sizes, a few minutes
    python benchmarks/solver_throughput.py --full --device cuda

Prints a table and writes JSON (``--json``, default benchmarks/results/solver_throughput.json).
When exponax (JAX) is installed (``pip install -e '.[bench]'``) the same cases run
through it in the same process, like for like: ETDRK4, same grid, dt, batch,
dtype and 2/3 dealiasing, jit + vmap, timing only the time loop (final state,
no trajectory stored). The ratio is exponax's time over ours (> 1: pdeop faster). The
contestants take turns, one repeat each, and every ratio is the median of the per-repeat
ratios, so that a machine whose speed drifts during the run (shared hosts) skews no one.

The FFT floor: the same number and sizes of FFTs as our step loop makes (four nonlinear
evaluations per ETDRK4 step, each an inverse transform of the fields the equation needs and a
forward transform of the products; batch chunks as the solver chunks it), with no arithmetic
between them; ``pdeop/floor`` says how far the solver is above it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import _common
import torch

import solvers
from solvers.base import chunk_workers


@dataclass
class Case:
    equation: str
    n: int
    batch: int
    steps: int
    dtype: str


@dataclass
class Result(Case):
    device: str
    pdeop_seconds: float
    pdeop_state_steps_per_second: float
    fft_floor_seconds: float | None = None
    pdeop_over_floor: float | None = None
    exponax_seconds: float | None = None
    exponax_over_pdeop: float | None = None
    graph_seconds: float | None = None
    eager_over_graph: float | None = None
    exponax_over_graph: float | None = None


# equation -> (solver factory, exponax factory, dt, length)
SETUPS = {
    "burgers": dict(length=1.0, dt=1e-3, ndim=1),
    "kdv": dict(length=40.0, dt=1e-3, ndim=1),
    "ks": dict(length=64.0, dt=0.25, ndim=1),
    "ns": dict(length=1.0, dt=1e-2, ndim=2),
}


def pdeop_solver(
    equation: str, n: int, dtype: torch.dtype, device: str, cuda_graph: bool = False
) -> solvers.SpectralSolver:
    setup = SETUPS[equation]
    common = dict(n=n, length=setup["length"], dt=setup["dt"], dtype=dtype, device=device, cuda_graph=cuda_graph)
    if equation == "burgers":
        return solvers.Burgers1D(nu=0.01, **common)
    if equation == "kdv":
        return solvers.KdV1D(alpha=6.0, beta=1.0, **common)
    if equation == "ks":
        return solvers.KuramotoSivashinsky1D(**common)
    return solvers.NavierStokes2D(nu=1e-3, **common)


def exponax_stepper(equation: str, n: int):
    import exponax

    setup = SETUPS[equation]
    args = (setup["ndim"], setup["length"], n, setup["dt"])
    if equation == "burgers":
        return exponax.stepper.Burgers(*args, diffusivity=0.01, conservative=True, order=4)
    if equation == "kdv":
        return exponax.stepper.KortewegDeVries(
            *args, convection_scale=-6.0, dispersivity=1.0, hyper_diffusivity=0.0, conservative=True, order=4
        )
    if equation == "ks":
        return exponax.stepper.KuramotoSivashinskyConservative(*args, order=4)
    return exponax.stepper.NavierStokesVorticity(*args, diffusivity=1e-3, order=4)


def initial_state(equation: str, n: int, batch: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """A smooth random state (low modes only) so no case blows up during timing."""
    generator = torch.Generator().manual_seed(0)
    ndim = SETUPS[equation]["ndim"]
    spectrum = torch.zeros(batch, *(n,) * (ndim - 1), n // 2 + 1, dtype=torch.complex128)
    low = (slice(None),) + (slice(0, 6),) * ndim
    spectrum[low] = torch.randn(spectrum[low].shape, dtype=torch.complex128, generator=generator)
    u = torch.fft.irfftn(spectrum, s=(n,) * ndim, dim=tuple(range(-ndim, 0)))
    u = u / u.flatten(1).abs().amax(1).reshape(-1, *(1,) * ndim)
    return u.to(device=device, dtype=dtype)


def interleaved_seconds(runs: dict[str, Callable[[], None]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each run per round (``_common.take_turns``), after one untimed warm-up each."""
    for run in runs.values():
        run()

    def timed(run: Callable[[], None]) -> Callable[[], float]:
        def seconds() -> float:
            start = time.perf_counter()
            run()
            return time.perf_counter() - start

        return seconds

    return _common.take_turns({name: timed(run) for name, run in runs.items()}, repeats)


def _synchronized(run: Callable[[], object], device: str) -> Callable[[], None]:
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def timed() -> None:
        with torch.inference_mode():
            run()
        sync()

    return timed


def pdeop_run(case: Case, device: str, cuda_graph: bool = False) -> Callable[[], None]:
    """``case.steps`` steps of our solver from a fixed state (final state only)."""
    dtype = getattr(torch, case.dtype)
    solver = pdeop_solver(case.equation, case.n, dtype, device, cuda_graph)
    u0 = initial_state(case.equation, case.n, case.batch, dtype, device)
    return _synchronized(lambda: solver.step(u0, case.steps), device)


#: fields per nonlinear evaluation: (inverse-transformed, forward-transformed); NS: velocity and
#: vorticity in, the two fluxes out; the 1D equations: u in, u^2 out
TRANSFORMS = {"burgers": (1, 1), "kdv": (1, 1), "ks": (1, 1), "ns": (3, 2)}


def fft_floor_run(case: Case, device: str) -> Callable[[], None]:
    """The FFTs of ``case.steps`` ETDRK4 steps alone (see the module docstring)."""
    dtype = getattr(torch, case.dtype)
    solver = pdeop_solver(case.equation, case.n, dtype, device)
    spectral = solver.to_spectral(initial_state(case.equation, case.n, case.batch, dtype, device))
    inverse, forward = TRANSFORMS[case.equation]
    chunks = spectral.split(solver.chunk_size(spectral))
    ins = [c[:, None].expand(-1, inverse, *c.shape[1:]).contiguous() for c in chunks]
    outs = [solver.to_physical(c)[:, None].expand(-1, forward, *solver.grid_shape).contiguous() for c in chunks]

    def transforms(spectra: torch.Tensor, fields: torch.Tensor) -> None:
        with torch.inference_mode():  # inference mode is per thread
            for _ in range(4 * case.steps):
                solver.to_physical(spectra)
                solver.to_spectral(fields)

    def run() -> None:
        with chunk_workers(len(ins), spectral.device) as pool:  # the solver's threads and chunks
            list(pool.map(transforms, ins, outs))

    return _synchronized(run, device)


def exponax_run(case: Case) -> Callable[[], None]:
    import exponax
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", case.dtype == "float64")
    stepper = exponax_stepper(case.equation, case.n)
    u0 = initial_state(case.equation, case.n, case.batch, torch.float64, "cpu")
    u0 = jnp.asarray(u0.numpy()[:, None], dtype=jnp.float32 if case.dtype == "float32" else jnp.float64)
    run = jax.jit(jax.vmap(exponax.repeat(stepper, case.steps)))
    return lambda: run(u0).block_until_ready()


def cases(
    full: bool, batches: list[int] | None = None, dtypes: list[str] | None = None, grids: list[int] | None = None
) -> list[Case]:
    sizes = {"burgers": 256, "kdv": 256, "ks": 256, "ns": 64}
    chosen = batches
    steps = {"burgers": 200, "kdv": 200, "ks": 200, "ns": 100}
    if full:
        sizes = {"burgers": 1024, "kdv": 1024, "ks": 1024, "ns": 256}
        batches = (16, 512)
    else:
        batches = (4, 64)
    return [
        Case(equation, n, batch, steps[equation], dtype)
        for equation in SETUPS
        for n in grids or [sizes[equation]]
        for batch in chosen or batches
        for dtype in dtypes or ("float32", "float64")
    ]


def main(argv: list[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--full", action="store_true", help="data-generation sizes for a GPU (1D N=1024, NS 256^2)")
    parser.add_argument(
        "--repeats", type=int, default=7, help="timed repeats per case, the contestants taking turns (medians reported)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--equations", nargs="+", choices=sorted(SETUPS), default=sorted(SETUPS))
    parser.add_argument("--batches", nargs="+", type=int, default=None, help="batch sizes (default 4 64)")
    parser.add_argument(
        "--grids", nargs="+", type=int, default=None, help="grid points per axis (default per equation)"
    )
    parser.add_argument("--dtypes", nargs="+", choices=["float32", "float64"], default=None)
    parser.add_argument("--no-exponax", action="store_true", help="skip the exponax comparison")
    parser.add_argument("--json", default="benchmarks/results/solver_throughput.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        import exponax  # noqa: F401

        have_exponax = not args.no_exponax
        if have_exponax and args.device.startswith("cuda"):
            import jax

            if jax.default_backend() != "gpu":  # a CPU-only JAX against a GPU solver compares nothing
                have_exponax = False
                print(f"JAX runs on {jax.default_backend()}, not a GPU here: exponax comparison skipped")
    except ImportError:
        have_exponax = False
        print("exponax not installed: pdeop only (pip install -e '.[bench]' for the comparison)")
    results = []
    header = f"{'equation':<8} {'grid':>8} {'batch':>5} {'dtype':<7} {'steps':>5} {'pdeop s':>9} {'state-steps/s':>14}"
    header += f" {'FFT floor s':>11} {'pdeop/floor':>11}"
    header += f" {'exponax s':>10} {'exponax/pdeop':>13}" if have_exponax else ""
    graphs = args.device.startswith("cuda")  # the recorded step loop (cuda_graph=True) beside the eager one
    header += (
        f" {'graph s':>9} {'eager/graph':>11}" + (f" {'exponax/graph':>13}" if have_exponax else "") if graphs else ""
    )
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} torch threads")
    print(header)
    # float32 cases first: JAX's x64 switch is flipped once
    ordered = sorted(
        (c for c in cases(args.full, args.batches, args.dtypes, args.grids) if c.equation in args.equations),
        key=lambda c: c.dtype != "float32",
    )
    for case in ordered:
        runs = {"pdeop": pdeop_run(case, args.device), "floor": fft_floor_run(case, args.device)}
        if have_exponax:
            runs["exponax"] = exponax_run(case)
        if graphs:
            runs["graph"] = pdeop_run(case, args.device, cuda_graph=True)
        timings = interleaved_seconds(runs, args.repeats)
        seconds = statistics.median(timings["pdeop"])
        result = Result(
            **asdict(case),
            device=args.device,
            pdeop_seconds=seconds,
            pdeop_state_steps_per_second=case.batch * case.steps / seconds,
            fft_floor_seconds=statistics.median(timings["floor"]),
            pdeop_over_floor=_common.median_ratio(timings["pdeop"], timings["floor"]),
        )
        if have_exponax:
            result.exponax_seconds = statistics.median(timings["exponax"])
            result.exponax_over_pdeop = _common.median_ratio(timings["exponax"], timings["pdeop"])
        if graphs:
            result.graph_seconds = statistics.median(timings["graph"])
            result.eager_over_graph = _common.median_ratio(timings["pdeop"], timings["graph"])
            if have_exponax:
                result.exponax_over_graph = _common.median_ratio(timings["exponax"], timings["graph"])
        grid = f"{case.n}" if SETUPS[case.equation]["ndim"] == 1 else f"{case.n}^2"
        line = f"{case.equation:<8} {grid:>8} {case.batch:>5} {case.dtype:<7} {case.steps:>5} {seconds:>9.4f} "
        line += f"{result.pdeop_state_steps_per_second:>14,.0f} {result.fft_floor_seconds:>11.4f} "
        line += f"{result.pdeop_over_floor:>11.2f}"
        if have_exponax:
            line += f" {result.exponax_seconds:>10.4f} {result.exponax_over_pdeop:>13.2f}"
        if graphs:
            line += f" {result.graph_seconds:>9.4f} {result.eager_over_graph:>11.2f}"
            line += f" {result.exponax_over_graph:>13.2f}" if have_exponax else ""
        print(line, flush=True)
        results.append(result)
    _common.write_json([asdict(r) for r in results], args.json)
    return results


if __name__ == "__main__":
    main()
