"""Dataset generation throughput: trajectories per second for each preset, end to end (solve + write).

    python benchmarks/generate.py                    # tiny presets and the 1D full presets, CPU
    python benchmarks/generate.py --full --device cuda   # every preset, Navier-Stokes included

Prints a table and writes JSON (``--json``, default benchmarks/results/generate.json).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common
import torch

import pde_data

# the full Navier-Stokes presets take 20-50k ETDRK4 steps on 256^2 per trajectory: GPU work
GPU_ONLY = {"ns-fno-1e-3", "ns-fno-1e-4", "ns-fno-1e-5"}


def measure(name: str, samples: int, batch_size: int, device: str, folder: Path) -> dict:
    path = folder / f"{name}.h5"
    start = time.perf_counter()
    pde_data.generate(name, path, samples, batch_size=batch_size, device=device, progress=False, overwrite=True)
    seconds = time.perf_counter() - start
    recipe = pde_data.preset(name)
    return {
        "preset": name,
        "device": device,
        "samples": samples,
        "batch_size": batch_size,
        "solver_grid": f"{recipe.solver_resolution}" + ("^2" if recipe.ndim == 2 else ""),
        "steps_per_trajectory": recipe.substeps() * (recipe.total_frames - 1),
        "seconds": seconds,
        "trajectories_per_second": samples / seconds,
        "megabytes": path.stat().st_size / 2**20,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--full", action="store_true", help="include the full Navier-Stokes presets (GPU)")
    parser.add_argument("--samples", type=int, default=8, help="trajectories per full preset (default 8)")
    parser.add_argument("--tiny-samples", type=int, default=32, help="trajectories per tiny preset (default 32)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--presets", nargs="+", help="only these presets")
    parser.add_argument("--json", default="benchmarks/results/generate.json")
    args = parser.parse_args(argv)
    names = args.presets or [n for n in pde_data.presets() if args.full or n not in GPU_ONLY]
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        f"{'preset':<20} {'grid':>6} {'steps':>6} {'samples':>7} {'batch':>5} {'seconds':>8} {'traj/s':>8} {'MiB':>6}"
    )
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            samples = args.tiny_samples if name.endswith("-tiny") else args.samples
            row = measure(name, samples, args.batch_size, args.device, Path(folder))
            results.append(row)
            print(
                f"{name:<20} {row['solver_grid']:>6} {row['steps_per_trajectory']:>6} {samples:>7} "
                f"{args.batch_size:>5} {row['seconds']:>8.2f} {row['trajectories_per_second']:>8.2f} "
                f"{row['megabytes']:>6.1f}",
                flush=True,
            )
    _common.write_json(results, args.json)
    return results


if __name__ == "__main__":
    main()
