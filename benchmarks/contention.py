"""pdeop on a busy machine: solver steps, a training epoch and generation, quiet and beside competing processes.

Each case runs in a fresh process (OpenMP reads its wait policy when it loads) with
``--threads`` intra-op threads and ``OMP_WAIT_POLICY`` set, while 0, 1 or 2
CPU-bound competitors (one busy Python loop each) run on the same cores. Prints
the median seconds of ``--repeats`` runs per case and writes JSON.

    python benchmarks/contention.py                  # every workload, threads 1 and 2, both policies
    python benchmarks/contention.py --workloads solver-1d --competitors 0 1

Workloads (CPU, float64 solvers as generation uses them):
  solver-1d  Kuramoto-Sivashinsky, N = 256, batch 64, 200 ETDRK4 steps
  solver-2d  Navier-Stokes, 64^2, batch 8, 50 ETDRK4 steps
  train      one epoch of an FNO (width 32, 4 layers, modes 8) on 192 windows 32^2, batch 16
  generate   pde_data.generate ns-fno-1e-3-tiny, 16 trajectories, batch 16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

WORKLOADS = ("solver-1d", "solver-2d", "train", "generate")


def _workload(name: str):
    """A callable running one repetition of ``name`` (everything built beforehand)."""
    import torch

    import pde_data
    import solvers

    generator = torch.Generator().manual_seed(0)
    if name == "solver-1d":
        ks = solvers.KuramotoSivashinsky1D(n=256, length=64.0, dt=0.1)
        u0 = 0.1 * torch.randn(64, 256, generator=generator, dtype=torch.float64)
        return lambda: ks.step(u0, 200)
    if name == "solver-2d":
        ns = solvers.NavierStokes2D(n=64, dt=1e-3, nu=1e-3)
        w0 = torch.randn(8, 64, 64, generator=generator, dtype=torch.float64)
        return lambda: ns.step(w0, 50)
    if name == "train":
        import operators

        model = operators.build("fno", in_channels=1, out_channels=1, ndim=2, modes=8, width=32, layers=4)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        inputs = torch.randn(192, 1, 32, 32, generator=generator)
        targets = torch.randn(192, 1, 32, 32, generator=generator)

        def epoch():
            for start in range(0, 192, 16):
                loss = ((model(inputs[start : start + 16]) - targets[start : start + 16]) ** 2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

        return epoch
    if name == "generate":
        folder = Path(tempfile.mkdtemp())

        def run():
            pde_data.generate("ns-fno-1e-3-tiny", folder / "d.h5", 16, batch_size=16, progress=False, overwrite=True)

        return run
    raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")


def worker(name: str, threads: int, repeats: int) -> None:
    """Inside the measured process: print the median seconds as JSON."""
    import torch

    torch.set_num_threads(threads)
    run = _workload(name)
    run()  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"median": statistics.median(seconds), "runs": seconds}))


def measure(name: str, threads: int, policy: str, competitors: int, repeats: int) -> dict:
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(competitors)]
    try:
        environment = {**os.environ, "OMP_WAIT_POLICY": policy, "OMP_NUM_THREADS": str(threads)}
        command = [sys.executable, __file__, "--worker", name, "--threads", str(threads), "--repeats", str(repeats)]
        result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=1800)
        if result.returncode:
            raise RuntimeError(result.stderr[-2000:])
        return json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        for process in busy:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--policies", nargs="+", default=["ACTIVE", "PASSIVE"], choices=["ACTIVE", "PASSIVE"])
    parser.add_argument("--competitors", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--json", default="benchmarks/results/contention.json")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.threads[0], args.repeats)
        return []
    print(f"{os.cpu_count()} cores; median of {args.repeats} runs (after a warm-up) per case, seconds")
    print(f"{'workload':<10} {'threads':>7} {'policy':>8} " + " ".join(f"{f'{c} busy':>9}" for c in args.competitors))
    rows = []
    for name in args.workloads:
        for threads in args.threads:
            for policy in args.policies:
                row = {"workload": name, "threads": threads, "policy": policy, "seconds": {}}
                for competitors in args.competitors:
                    row["seconds"][competitors] = measure(name, threads, policy, competitors, args.repeats)["median"]
                rows.append(row)
                cells = " ".join(f"{row['seconds'][c]:>9.3f}" for c in args.competitors)
                print(f"{name:<10} {threads:>7} {policy:>8} {cells}", flush=True)
    _common.write_json({"rows": rows, "cores": os.cpu_count(), "repeats": args.repeats}, args.json)
    return rows


if __name__ == "__main__":
    main()
