"""Windows per second through a DataLoader: pdeop's reader, our Well reader and the_well's WellDataset on one file.

    python benchmarks/loading.py                   # a generated NS file (64 trajectories, 64^2, 21 frames)
    python benchmarks/loading.py --workers 0 2 4 --batch 32

A file pdeop writes is in The Well's layout, so the three readers load the same windows from the
same bytes: ``pde_data.TrajectoryDataset`` (our files), ``pde_data.well.WellWindows`` (any Well
dataset) and ``the_well.data.WellDataset`` (no normalisation, no grids or boundary conditions
returned, so it does only what the others do). Each reads every window of the file once per pass
(history 4, horizon 1), shuffled; the table gives windows per second, median of ``--repeats`` passes.
Goal (the datasets issue): at least as fast as WellDataset.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import _common
import torch
from torch.utils.data import DataLoader

import pde_data
from pde_data.well import WellWindows


def readers(path: Path, root: Path, history: int, horizon: int) -> dict:
    from the_well.data import WellDataset

    well = WellDataset(
        path=str(root),
        well_split_name="train",
        n_steps_input=history,
        n_steps_output=horizon,
        use_normalization=False,
        return_grid=False,
        boundary_return_type=None,
    )
    return {
        "pdeop TrajectoryDataset": pde_data.TrajectoryDataset(path, history, horizon),
        "pdeop WellWindows": WellWindows(path, history=history, horizon=horizon),
        "the_well WellDataset": well,
    }


def windows_per_second(dataset, workers: int, batch: int, repeats: int) -> float:
    loader = DataLoader(
        dataset,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        generator=torch.Generator().manual_seed(0),
        persistent_workers=workers > 0,
    )
    rates = []
    for _ in range(repeats + 1):  # the first pass starts the workers and warms the page cache
        start = time.perf_counter()
        count = sum(len(next(iter(batch_.values()))) for batch_ in loader)
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates[1:])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default="benchmarks/results/loading.json")
    args = parser.parse_args(argv)
    recipe = dataclasses.replace(
        pde_data.preset("ns-fno-1e-3"), solver_resolution=64, max_dt=1e-2, t_end=20.0, total_frames=21
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "data" / "train"
        folder.mkdir(parents=True)
        path = pde_data.generate(recipe, folder / "ns.hdf5", args.samples, progress=False)
        for name, dataset in readers(path, root, history=4, horizon=1).items():
            for workers in args.workers:
                rate = windows_per_second(dataset, workers, args.batch, args.repeats)
                rows.append({"reader": name, "workers": workers, "windows_per_second": rate, "windows": len(dataset)})
    print(
        f"{args.samples} trajectories of 64^2 x 21 frames, windows of 4 + 1 frames, batch {args.batch}, "
        f"median of {args.repeats} shuffled passes, {torch.get_num_threads()} torch thread(s)"
    )
    print(f"{'reader':<26} {'workers':>7} {'windows/s':>10}")
    for row in rows:
        print(f"{row['reader']:<26} {row['workers']:>7} {row['windows_per_second']:>10.0f}")
    _common.write_json(rows, args.json)
    return rows


if __name__ == "__main__":
    main()
