"""``pdeop generate``, ``merge``, ``info``, ``plot`` and ``convert``: making and looking at datasets."""

from __future__ import annotations

from pathlib import Path

from training.cli.common import CommandError, add_command

#: command -> its line in ``pdeop --help``
HELP = {
    "generate": "generate a benchmark dataset from a preset",
    "merge": "join shard files into one dataset",
    "info": "summarise a dataset file",
    "plot": "picture of one trajectory",
    "convert": "convert a PDEBench, FNO, PDEArena or neuraloperator file for training",
}


def _add_generate(commands) -> None:
    from pde_data.recipes import presets

    parser = add_command(
        commands,
        "generate",
        help=HELP["generate"],
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
        "--split",
        default="train",
        choices=["train", "valid", "test"],
        help="what the file is for (default train): a valid or test file is entirely that split; a train file is "
        "divided 80/10/10 %% into train/valid/test trajectories. Also picks the default count and random stream",
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--batch-size", type=int, default=32, help="trajectories solved together (default 32)")
    parser.add_argument("--resolution", type=int, help="stored grid points per axis (default: the preset's)")
    parser.add_argument(
        "--extra-fields",
        nargs="+",
        metavar="NAME",
        help="derived fields to store beside the solved one (ns: velocity), making a multi-channel dataset",
    )
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--shard", help="I/K: generate shard I of K only; 'auto' from torchrun/SLURM variables")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_run_generate)


def _add_merge(commands) -> None:
    merge = add_command(
        commands,
        "merge",
        help=HELP["merge"],
        description="Join the files written by 'pdeop generate --shard I/K' into the file one unsharded run writes.",
    )
    merge.add_argument("out", type=Path, help="the dataset path given to generate --out")
    merge.add_argument("--shards", nargs="+", type=Path, help="shard files (default: every OUT-stem.shard-I-of-K file)")
    merge.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    merge.set_defaults(handler=_run_merge)


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
        extra_fields=args.extra_fields,
        resume=args.resume,
        overwrite=args.overwrite,
        shard=args.shard,
        progress=not args.quiet,
    )
    print(f"wrote {path}")


def _run_merge(args) -> None:
    from pde_data import merge_shards

    print(f"wrote {merge_shards(args.out, args.shards, overwrite=args.overwrite)}")


def _add_info(commands) -> None:
    info = add_command(commands, "info", help=HELP["info"], description="Print a readable summary of a dataset file.")
    info.add_argument("path", type=Path)
    info.add_argument("--captions", type=int, default=2, help="how many captions to show (default 2)")
    info.set_defaults(handler=_run_info)


def _add_plot(commands) -> None:
    plot = add_command(
        commands,
        "plot",
        help=HELP["plot"],
        description="Save a space-time diagram (1D) or snapshots (2D) of one trajectory, and optionally a GIF.",
    )
    plot.add_argument("path", type=Path)
    plot.add_argument("--sample", type=int, default=0, help="trajectory index (default 0)")
    plot.add_argument("--out", type=Path, help="PNG file to write")
    plot.add_argument("--animate", type=Path, metavar="FILE.gif", help="also write an animation")
    plot.add_argument(
        "--channel",
        help="which channel of The Well's data, e.g. velocity_x (default the first; pdeop info lists the fields)",
    )
    plot.set_defaults(handler=_run_plot)


def _run_info(args) -> None:
    from pde_data.sources import open_source

    print(open_source(args.path).summary(args.captions))


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
        print(f"wrote {plot_sample(args.path, args.out, args.sample, channel=args.channel)}")
    if args.animate is not None:
        print(f"wrote {animate_sample(args.path, args.animate, args.sample, channel=args.channel)}")


def _add_convert(commands) -> None:
    from pde_data.convert import FORMATS

    convert = add_command(
        commands,
        "convert",
        help=HELP["convert"],
        description=(
            "Convert a dataset file of the field's formats into one HDF5 file in The Well's layout, which "
            "pdeop train, evaluate, info and plot read directly. Streams block by block; the output appears only "
            "when complete. The output records the source format, file name and size and what was assumed "
            "(pdeop info shows it). Formats: "
            + "; ".join(f"{name}: {reader.__doc__.strip().rstrip('.')}" for name, reader in FORMATS.items())
            + "."
        ),
    )
    convert.add_argument("source", type=Path, help="the file to convert")
    convert.add_argument("--from", dest="format", required=True, choices=list(FORMATS), help="the source's format")
    convert.add_argument("--out", type=Path, required=True, help="the HDF5 file to write (.h5 or .hdf5)")
    convert.add_argument(
        "--periodic",
        choices=("yes", "no"),
        help="whether the domain is periodic, where the "
        "source does not record it (default: the format's convention, recorded as assumed)",
    )
    convert.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    convert.add_argument("--quiet", action="store_true", help="no progress bar")
    convert.set_defaults(handler=_run_convert)


def _run_convert(args) -> None:
    from pde_data.convert import convert

    periodic = None if args.periodic is None else args.periodic == "yes"
    written = convert(args.format, args.source, args.out, periodic, progress=not args.quiet, overwrite=args.overwrite)
    print(f"wrote {written}")


#: command -> the function that adds its parser (and handler)
ADDERS = {
    "generate": _add_generate,
    "merge": _add_merge,
    "info": _add_info,
    "plot": _add_plot,
    "convert": _add_convert,
}
