"""The ``pdeop`` command line: one entry point, one subcommand per job.

Bad input ends with one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def package_version() -> str:
    try:
        return version("pdeop")
    except PackageNotFoundError:
        return "unknown (not installed)"


# --- generate / merge -------------------------------------------------------------------------
def _add_generate(commands) -> None:
    from pde_data.presets import presets

    parser = commands.add_parser(
        "generate",
        help="generate a benchmark dataset from a preset",
        description=(
            "Solve a preset's trajectories in batches and write them to one HDF5 file in The Well's layout. "
            "Finished batches are kept in OUT.parts/ until the file is assembled, so an interrupted run "
            "continues with --resume. Presets: " + ", ".join(presets())
        ),
        epilog=(
            "Sharding: run 'pdeop generate PRESET --out data.h5 --shard I/K' for I = 0..K-1 (in any order, on any "
            "machines; each writes data.shard-I-of-K.h5), then 'pdeop merge data.h5'. Under torchrun or SLURM, "
            "'--shard auto' reads RANK/WORLD_SIZE or SLURM_PROCID/SLURM_NTASKS, e.g. "
            "'torchrun --nproc-per-node 4 -m training.cli generate ns-fno-1e-3 --out ns.h5 --shard auto --device cuda'. "
            "Keep --batch-size and --seed the same in every shard."
        ),
    )
    parser.add_argument("preset", help="dataset recipe name (see 'pdeop generate --help')")
    parser.add_argument("--out", required=True, type=Path, help="output HDF5 file")
    parser.add_argument("--samples", type=int, help="number of trajectories (default: the preset's for --split)")
    parser.add_argument(
        "--split", default="train", choices=["train", "valid", "test"], help="default count and random stream"
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--batch-size", type=int, default=32, help="trajectories solved together (default 32)")
    parser.add_argument("--resolution", type=int, help="stored grid points per axis (default: the preset's)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--shard", help="I/K: generate shard I of K only; 'auto' from torchrun/SLURM variables")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=_run_generate)

    merge = commands.add_parser(
        "merge",
        help="join shard files into one dataset",
        description="Join the files written by 'pdeop generate --shard I/K' into the file one unsharded run writes.",
    )
    merge.add_argument("out", type=Path, help="the dataset path given to generate --out")
    merge.add_argument("--shards", nargs="+", type=Path, help="shard files (default: every OUT-stem.shard-I-of-K file)")
    merge.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    merge.set_defaults(run=_run_merge)


def _run_generate(args) -> None:
    import pde_data

    path = pde_data.generate(
        args.preset,
        args.out,
        args.samples,
        seed=args.seed,
        split=args.split,
        device=args.device,
        batch_size=args.batch_size,
        resolution=args.resolution,
        resume=args.resume,
        overwrite=args.overwrite,
        shard=args.shard,
        progress=not args.quiet,
    )
    print(f"wrote {path}")


def _run_merge(args) -> None:
    from pde_data import merge_shards

    print(f"wrote {merge_shards(args.out, args.shards, overwrite=args.overwrite)}")


# --- info / plot --------------------------------------------------------------------------------
def _add_inspection(commands) -> None:
    info = commands.add_parser(
        "info", help="summarise a dataset file", description="Print a readable summary of a dataset file."
    )
    info.add_argument("path", type=Path)
    info.add_argument("--captions", type=int, default=2, help="how many captions to show (default 2)")
    info.set_defaults(run=_run_info)

    plot = commands.add_parser(
        "plot",
        help="picture of one trajectory",
        description="Save a space-time diagram (1D) or snapshots (2D) of one trajectory, and optionally a GIF.",
    )
    plot.add_argument("path", type=Path)
    plot.add_argument("--sample", type=int, default=0, help="trajectory index (default 0)")
    plot.add_argument("--out", type=Path, help="PNG file to write")
    plot.add_argument("--animate", type=Path, metavar="FILE.gif", help="also write an animation")
    plot.set_defaults(run=_run_plot)


def dataset_summary(path: Path, captions: int = 2) -> str:
    """The text ``pdeop info`` prints."""
    import pde_data

    ds = pde_data.open(path)
    recipe = json.loads(ds.attrs["recipe"])
    field_name = "vorticity" if "vorticity" in ds else "u"
    field = ds[field_name]
    time = ds["time"].values
    stats = json.loads(ds.attrs["statistics"])[field_name]
    parameters = {name: ds.attrs[name] for name in ds.attrs["simulation_parameters"]}
    lengths = ds["length"].values if "length" in ds else None
    lines = [
        f"{path}  ({path.stat().st_size / 2**20:.1f} MiB)",
        f"  dataset      {ds.attrs['dataset_name']} (split {ds.attrs.get('split', '?')}, seed {ds.attrs.get('seed', '?')})",
        f"  equation     {recipe['equation']}: {_equation_text(recipe['equation'])}",
        "  parameters   " + ", ".join(f"{k} = {v:g}" for k, v in parameters.items()),
        f"  field        {field_name} {tuple(field.shape)} (sample, time, {', '.join(field.dims[2:])}) {field.dtype}",
        f"  time         {time.min():.4g} .. {time.max():.4g}, {time.shape[-1]} frames"
        + (" (per-sample times)" if time.ndim == 2 else ""),
    ]
    if lengths is not None:
        lines.append(f"  length       per sample, {lengths.min():.4g} .. {lengths.max():.4g}")
    lines.append(
        f"  statistics   mean {stats['mean']:.4g}, std {stats['std']:.4g}, rms {stats['rms']:.4g}; "
        f"frame differences std {stats['std_delta']:.4g}"
    )
    lines.append(f"  recipe       {recipe['description']}")
    for i in range(min(captions, ds.sizes["sample"])):
        lines.append(f"  caption[{i}]   {ds['caption'].values[i]}")
    return "\n".join(lines)


def _equation_text(equation: str) -> str:
    from pde_data.presets import EQUATIONS

    return EQUATIONS[equation][2]


def _run_info(args) -> None:
    print(dataset_summary(args.path, args.captions))


def _run_plot(args) -> None:
    from pde_data.plotting import animate_sample, plot_sample

    if args.out is None and args.animate is None:
        raise CommandError("nothing to write: give --out FILE.png and/or --animate FILE.gif")
    for target, suffix in ((args.out, ".png"), (args.animate, ".gif")):
        if target is not None and target.suffix.lower() != suffix:
            raise CommandError(f"{target} should end in {suffix}")
        if target is not None and not target.parent.resolve().is_dir():
            raise CommandError(f"cannot write {target}: folder {target.parent} does not exist")
    if args.out is not None:
        print(f"wrote {plot_sample(args.path, args.out, args.sample)}")
    if args.animate is not None:
        print(f"wrote {animate_sample(args.path, args.animate, args.sample)}")


# --- entry point --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pdeop",
        description=(
            "Neural operators and PDE surrogates: generate benchmark datasets with spectral solvers, "
            "train surrogate operators, and predict with them."
        ),
        epilog="Run 'pdeop COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"pdeop {package_version()}")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    _add_generate(commands)
    _add_inspection(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        args.run(args)
    except KeyboardInterrupt:
        print("pdeop: interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, FileNotFoundError, OSError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"pdeop {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
