"""A Well dataset directory made the way a user makes one from the field's files, for ``pdeop bench DIR``.

    python benchmarks/well_directory.py benchmarks/results/bench-burgers/data/burgers-fno-cpu-small.h5 \
        --out benchmarks/results/well-burgers
    pdeop bench benchmarks/results/well-burgers/burgers --models fno,mgno,unet,stagger \
        --out benchmarks/results/bench-well-burgers

Each split of a 1D pdeop file is written as a PDEBench flat file (``tensor`` ``(N, T, X)``, ``x-coordinate``,
``t-coordinate``), and ``pdeop convert --from pdebench`` turns each into ``OUT/NAME/data/SPLIT/NAME.h5``: The
Well's directory layout, which the bench reads as it is. Benched from the same trajectories as the pdeop
file, its rows should match that file's bench up to the statistics (the converter stores its own).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from pde_data.sources import open_source

SPLITS = ("train", "valid", "test")


def write_pdebench(source: Path, split: str, target: Path) -> None:
    """``split`` of the 1D pdeop file ``source`` as a PDEBench flat file at ``target``."""
    data = open_source(source, split)
    fields = [data.trajectory(i) for i in data.trajectory_indices]
    if fields[0].dim() != 3 or fields[0].shape[1] != 1:
        raise SystemExit(f"{source} is not 1D with one field (trajectories {tuple(fields[0].shape)}): not supported")
    tensor = np.stack([f[:, 0].numpy() for f in fields]).astype(np.float32)
    times = np.asarray(data.times, dtype=np.float64)  # a pdeop file: the stored frames' times
    length = float(data.description["length"])
    target.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(target, "w") as f:
        f["tensor"] = tensor
        f["x-coordinate"] = np.arange(tensor.shape[2]) * length / tensor.shape[2]
        f["t-coordinate"] = times


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a 1D pdeop file with train, valid and test splits")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", default=None, help="the dataset's name (default: the first word of the source's)")
    args = parser.parse_args(argv)
    name = args.name or args.source.stem.split("-")[0]
    for split in SPLITS:
        pdebench = args.out / "pdebench" / f"{name}_{split}.hdf5"
        write_pdebench(args.source, split, pdebench)
        target = args.out / name / "data" / split / f"{name}.h5"
        target.parent.mkdir(parents=True, exist_ok=True)
        command = ["convert", str(pdebench), "--from", "pdebench", "--out", str(target), "--periodic", "yes"]
        subprocess.run([sys.executable, "-m", "training.cli", *command, "--overwrite", "--quiet"], check=True)
    print(f"wrote {args.out / name}")
    return args.out / name


if __name__ == "__main__":
    main()
