"""The ``pdeop`` command line: one entry point, one subcommand per job.

Bad input (``solvers.InputError``, which every layer raises for user mistakes) ends
with one clear line on stderr and exit status 2; so do environment failures the user
can act on (a read-only folder, a full disk). Any other exception is a bug and keeps
its traceback.
"""

from __future__ import annotations

from training.threads import apply_threads, prepare_environment

prepare_environment()  # before anything imports torch: OpenMP reads its wait policy when it loads

import argparse  # noqa: E402
import errno  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from importlib.metadata import PackageNotFoundError, version  # noqa: E402
from pathlib import Path  # noqa: E402

from solvers.errors import InputError  # noqa: E402

#: OSError numbers that describe the user's environment, not a bug
ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOENT, errno.EISDIR}


class CommandError(InputError):
    """A user-facing failure of the command line itself: printed as one line, exit status 2."""


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--threads",
        type=_positive_int,
        help="CPU threads for torch (default: $PDEOP_THREADS, else 1 on machines with up to 2 cores; README: Busy machines)",
    )
    return common


def _add_command(commands, name: str, **options) -> argparse.ArgumentParser:
    """A subcommand with the options every command shares."""
    return commands.add_parser(name, parents=[_common_options()], **options)


def package_version() -> str:
    try:
        return version("pdeop")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (0 and negative values would silently mean something else)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


# --- generate / merge -------------------------------------------------------------------------
def _add_generate(commands) -> None:
    from pde_data.presets import presets

    parser = _add_command(
        commands,
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

    merge = _add_command(
        commands,
        "merge",
        help="join shard files into one dataset",
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


# --- info / plot --------------------------------------------------------------------------------
def _add_inspection(commands) -> None:
    info = _add_command(
        commands, "info", help="summarise a dataset file", description="Print a readable summary of a dataset file."
    )
    info.add_argument("path", type=Path)
    info.add_argument("--captions", type=int, default=2, help="how many captions to show (default 2)")
    info.set_defaults(handler=_run_info)

    plot = _add_command(
        commands,
        "plot",
        help="picture of one trajectory",
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


def _add_bench(commands) -> None:
    from training.bench import SUITES, TIERS, benchable

    bench = _add_command(
        commands,
        "bench",
        help="train every chosen model on one suite and budget; write a leaderboard",
        description=(
            "For each model: generate (or reuse) the suite's data, train it at the tier's size through the shared "
            "trainer, evaluate on the test split, time inference per trajectory (batch 64) and the spectral solver "
            "on the same grid, horizon and device. Writes OUT/leaderboard.md, leaderboard.json, error_vs_step.png "
            "and pareto.png. Finished models are kept: rerunning the command continues an interrupted bench. "
            f"Suites: {', '.join(SUITES)}, or a Well dataset directory."
        ),
    )
    bench.add_argument("suite", help="a suite name or a Well dataset directory")
    bench.add_argument("--models", help=f"comma-separated (default all benchable: {','.join(benchable())})")
    bench.add_argument("--tier", choices=TIERS, default="cpu-small", help="problem and model size (default cpu-small)")
    bench.add_argument(
        "--budget",
        default="epochs",
        metavar="KIND[=VALUE]",
        help="epochs[=N] (the tier's epochs), seconds[=S] (training wall-clock per model, default 60) "
        "or parameters[=N] (widths matched to N, default the first model's count)",
    )
    bench.add_argument(
        "--predictions",
        type=Path,
        nargs="+",
        default=[],
        metavar="FILE",
        help="also score rollouts made outside pdeop (pdeop predict's file layout) in the table",
    )
    bench.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N (default cpu)")
    bench.add_argument("--out", type=Path, required=True, help="bench directory (rerun with it to resume)")
    bench.add_argument("--quiet", action="store_true", help="no progress bars")
    bench.add_argument(
        "--retime",
        action="store_true",
        help="train nothing: time the finished models and the solver again, keeping their scores "
        "(benches trained side by side, timed alone on a quiet machine)",
    )
    bench.set_defaults(handler=_run_bench)


def _run_bench(args) -> None:
    from training import leaderboard
    from training.bench import Bench, benchable, score_external
    from training.evaluation import check_predictions

    kind, _, value = args.budget.partition("=")
    try:
        amount = float(value) if value else None
    except ValueError:
        raise CommandError(f"--budget {args.budget}: the value after = must be a number") from None
    for path in args.predictions:  # before training, which may take hours
        check_predictions(path)
    bench = Bench(args.suite, args.out, args.tier, kind, amount, args.device, progress=not args.quiet)
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else benchable()
    if args.retime:
        bench.retime(models)
    elif args.models is None or models:
        bench.run(models)
    for path in args.predictions:
        score_external(bench, path)
    written = leaderboard.write(args.out)
    print(written[0].read_text())
    print("wrote " + ", ".join(str(p) for p in written))


def _add_conversion(commands) -> None:
    from pde_data.convert import FORMATS

    convert = _add_command(
        commands,
        "convert",
        help="convert a PDEBench, FNO, PDEArena or neuraloperator file for training",
        description=(
            "Convert a dataset file of the field's formats into one HDF5 file in The Well's layout, which "
            "pdeop train, evaluate, info and plot read directly. Streams block by block; the output appears only "
            "when complete. The output records the source format, file name and size and what was assumed "
            "(pdeop info shows it). Formats: pdebench (flat and seed-group HDF5 files), fno-mat (the FNO paper's "
            ".mat files, MATLAB v7.3 or v5), pdearena (Navier-Stokes), neuraloperator-pt (x/y tensor dicts)."
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


def _varying_line(name: str, values) -> str:
    if values.dtype == object:
        counts = {v: int((values == v).sum()) for v in dict.fromkeys(values.tolist())}
        text = ", ".join(f"{v} ({c})" for v, c in counts.items())
    else:
        text = f"{values.min():.4g} .. {values.max():.4g}"
    return f"  varying      {name} per sample: {text}"


def dataset_summary(path: Path, captions: int = 2) -> str:
    """The text ``pdeop info`` prints."""
    import pde_data
    from pde_data.loading import scan_values
    from pde_data.storage import file_recipe

    recipe = file_recipe(path)
    ds = pde_data.open(path)
    time = ds["time"].values
    statistics = json.loads(ds.attrs["statistics"])
    parameters = {name: ds.attrs[name] for name in ds.attrs["simulation_parameters"] if name in ds.attrs}
    lengths = ds["length"].values if "length" in ds else None
    lines = [
        f"{path}  ({path.stat().st_size / 2**20:.1f} MiB)",
        f"  dataset      {ds.attrs['dataset_name']} (split {ds.attrs.get('split', '?')}, seed {ds.attrs.get('seed', '?')})",
        f"  equation     {recipe.equation}: {recipe.pde.text}",
        "  parameters   " + ", ".join(f"{k} = {v:g}" for k, v in parameters.items()),
    ]
    for name in recipe.field_names:
        field = ds[name]
        lines.append(f"  field        {name} {tuple(field.shape)} ({', '.join(field.dims)}) {field.dtype}")
    lines.append(
        f"  time         {time.min():.4g} .. {time.max():.4g}, {time.shape[-1]} frames"
        + (" (per-sample times)" if time.ndim == 2 else "")
    )
    if lengths is not None:
        lines.append(f"  length       per sample, {lengths.min():.4g} .. {lengths.max():.4g}")
    lines += [_varying_line(name, ds[name].values) for name in recipe.varying if name in ds]
    for name in recipe.field_names:
        stats = statistics[name]
        lines.append(
            f"  statistics   {name}: mean {_numbers(stats['mean'])}, std {_numbers(stats['std'])}, "
            f"rms {_numbers(stats['rms'])}; frame differences std {_numbers(stats['std_delta'])}"
        )
    for name, problem in scan_values(path).items():
        if problem is not None:
            count, sample, frame = problem
            lines.append(
                f"  WARNING      {name}: {count} non-finite or overflowing values (first at sample {sample}, "
                f"frame {frame}); training on this file stops there"
            )
    lines.append(f"  recipe       {recipe.description}")
    for i in range(min(captions, ds.sizes["sample"])):
        lines.append(f"  caption[{i}]   {ds['caption'].values[i]}")
    return "\n".join(lines)


def _numbers(value) -> str:
    """A statistic of a scalar field (a number) or of a vector field (one per component)."""
    return f"{value:.4g}" if isinstance(value, (int, float)) else "(" + ", ".join(f"{v:.4g}" for v in value) + ")"


def _run_info(args) -> None:
    from pde_data.well import is_well_source

    print(well_summary(args.path) if is_well_source(args.path) else dataset_summary(args.path, args.captions))


def well_summary(path: Path) -> str:
    """The text ``pdeop info`` prints for a Well file or dataset directory (read directly, not converted)."""
    import json

    import h5py

    from pde_data.well import SPLITS, WellFile, well_files

    splits = {split: well_files(path, split) for split in SPLITS if path.is_dir() and _has_split(path, split)}
    files = [path] if path.is_file() else [f for group in splits.values() for f in group]
    info = WellFile.read(files[0])
    ndim, axes = info.ndim, info.axes
    lines = [f"{path}  (The Well's layout, read directly)"]
    if splits:
        lines += [
            f"  split        {split}: {len(group)} file(s), {sum(WellFile.read(f).trajectories for f in group)} "
            "trajectories"
            for split, group in splits.items()
        ]
    else:
        lines.append(f"  trajectories {info.trajectories}")
    grid = " x ".join(
        f"{n} ({a}{', periodic' if periodic else ''})"
        for n, a, periodic in zip(info.grid, axes, info.periodic, strict=True)
    )
    lines += [f"  grid         {grid}", f"  time         {info.steps} steps"]
    for field in info.fields:
        flags = ", ".join(name for name, on in (("time", field.time_varying), ("sample", field.sample_varying)) if on)
        constant_axes = [a for a, varying in zip(axes, field.dim_varying, strict=False) if not varying]
        lines.append(
            f"  field        {field.name} (t{field.order}: {field.components(ndim)} channel(s)"
            f"{'; constant in time' if not field.time_varying else ''}; varies with {flags or 'nothing'}"
            f"{'; constant along ' + ', '.join(constant_axes) if constant_axes else ''})"
        )
    from pde_data.well import WellWindows

    data = WellWindows(path, "train" if path.is_dir() else None)
    stored = data.stored_statistics()
    stats_file = path / "stats.yaml" if path.is_dir() else None
    origin = "stats.yaml" if stats_file is not None and stats_file.is_file() else "stored with the fields"
    lines.append(f"  statistics   {origin if stored else 'computed when needed'}")
    if stored:
        lines += [
            f"    {name:<14} mean {float(m):.4g}, std {float(s):.4g}"
            for name, m, s in zip(data.channel_names, stored["mean"], stored["std"], strict=True)
        ]
    with h5py.File(files[0], "r") as f:
        source = json.loads(f.attrs["pdeop_source"]) if "pdeop_source" in f.attrs else None
    if source is not None:
        lines.append(f"  converted    from {source['format']}: {source['file']} ({source['bytes']:,} bytes)")
        lines += [f"  assumed      {text}" for text in source.get("assumed", [])]
    return "\n".join(lines)


def _has_split(path: Path, split: str) -> bool:
    return any((folder / split).is_dir() for folder in (path / "data", path))


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


# --- train / evaluate / predict / quickstart ------------------------------------------------
OTHER_GRIDS_HELP = (
    "how a grid-tied model meets data on another grid: direct (run it there anyway, to measure how it degrades) or "
    "interpolate (resample each input to the training grid and the output back); resolution-agnostic models "
    "(fno, localno, *-no, resolution_consistent) need neither"
)


def _add_training(commands) -> None:
    import operators
    from training.tasks import task_kinds

    train = _add_command(
        commands,
        "train",
        help="train a surrogate on a dataset",
        description=(
            "Train a registered architecture on a generated dataset. The run directory gets config.yaml, "
            "metrics.csv/jsonl, checkpoints/{best,last}.pt and, after training, a rollout evaluation on the "
            "validation split with plots. Architectures: " + ", ".join(operators.available())
        ),
        epilog=(
            "Every config field can be set with --set section.key=value (sections: data, model, task, optim, "
            "schedule, train), e.g. --set optim.lr=3e-4 --set model.hyperparameters.width=32. Task kinds "
            f"(--set task.kind=...): {', '.join(task_kinds())}; each has its own task.* fields. Several GPUs: "
            "torchrun --nproc-per-node 4 -m training.cli train ...; several nodes: add --nnodes N --node-rank R "
            "--rdzv-endpoint HOST:PORT."
        ),
    )
    train.add_argument("--data", help="training dataset (HDF5 from 'pdeop generate')")
    train.add_argument("--model", help="architecture name (default fno)")
    train.add_argument("--config", type=Path, help="YAML config file")
    train.add_argument("--epochs", type=int)
    train.add_argument("--precision", choices=["fp32", "bf16", "fp16"])
    train.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto)")
    train.add_argument("--out", type=Path, help="run directory (default runs/<dataset>-<model>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(handler=_run_train)

    evaluate = _add_command(
        commands,
        "evaluate",
        help="score a trained run (or stored predictions) on a dataset",
        description=(
            "Roll the run's best checkpoint out from the first history frames of each trajectory and score only "
            "the predicted frames (relative L2, nRMSE, VRMSE, correlation time) next to the persistence baseline. "
            "With --predictions, score rollouts stored in pdeop's format by any model instead."
        ),
    )
    evaluate.add_argument("run", nargs="?", type=Path, help="run directory or checkpoint file")
    evaluate.add_argument(
        "--data",
        required=True,
        type=Path,
        action="append",
        help="dataset to score on; repeat it with the same trajectories at several resolutions for a table and "
        "a plot of the error against resolution",
    )
    evaluate.add_argument("--predictions", type=Path, help="a predictions file (see 'pdeop predict')")
    evaluate.add_argument(
        "--split",
        default="test",
        help="train, valid, test or all (default test): a file generated for valid or test is entirely that split; "
        "in a train file, test is its last 10 %% of trajectories (never trained on)",
    )
    evaluate.add_argument("--trajectories", type=_positive_int, help="at most this many trajectories")
    evaluate.add_argument("--out", type=Path, help="report folder (default RUN/evaluation-<data name>)")
    evaluate.add_argument("--precision", choices=["fp32", "bf16", "fp16"])
    evaluate.add_argument("--other-grids", choices=["direct", "interpolate"], help=OTHER_GRIDS_HELP)
    evaluate.add_argument(
        "--observations", type=Path, help="assimilation runs: observations from 'pdeop observe' (default: drawn)"
    )
    evaluate.set_defaults(handler=_run_evaluate)

    predict = _add_command(
        commands,
        "predict",
        help="roll a trained surrogate out and save the predictions",
        description="Predict future states from a dataset's first frames; prints the time per sample and the solver's.",
    )
    predict.add_argument("run", type=Path, help="run directory or checkpoint file")
    predict.add_argument("--input", required=True, type=Path, help="dataset whose first frames start the rollouts")
    predict.add_argument("--sample", type=int, action="append", help="trajectory index (repeatable; default all)")
    predict.add_argument("--steps", type=int, required=True, help="states to predict")
    predict.add_argument("--out", required=True, type=Path, help="predictions file (.h5)")
    predict.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N (default cpu)")
    predict.add_argument("--precision", choices=["fp32", "bf16", "fp16"])
    predict.add_argument("--overwrite", action="store_true")
    predict.add_argument(
        "--solver-frames",
        type=_positive_int,
        default=50,
        help="time the solver over at most this many frame intervals and scale to the rollout (default 50)",
    )
    predict.add_argument("--no-solver-timing", action="store_true", help="skip the solver comparison")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.add_argument("--other-grids", choices=["direct", "interpolate"], help=OTHER_GRIDS_HELP)
    predict.set_defaults(handler=_run_predict)

    quick = _add_command(
        commands,
        "quickstart",
        help="the whole pipeline on a tiny problem, in a few minutes on a laptop CPU",
        description=(
            "Generate a tiny 2D Navier-Stokes dataset, train an FNO on it, evaluate rollouts against the "
            "persistence baseline, predict, plot, and print a summary (error, surrogate vs solver speed)."
        ),
    )
    quick.add_argument(
        "--out", type=Path, default=Path("quickstart"), help="folder for everything (default ./quickstart)"
    )
    quick.add_argument("--epochs", type=int, default=40)
    quick.add_argument("--samples", type=int, default=96, help="training trajectories (default 96)")
    quick.add_argument("--device", default="auto")
    quick.add_argument("--quiet", action="store_true")
    quick.set_defaults(handler=_run_quickstart)


def _run_train(args) -> None:
    from training.config import load_config
    from training.run import resume_config, train

    flags = []
    for key, value in (
        ("data.path", args.data),
        ("model.name", args.model),
        ("train.epochs", args.epochs),
        ("train.precision", args.precision),
        ("train.device", args.device),
    ):
        if value is not None:
            flags.append(f"{key}={value}")
    if args.resume:
        if args.out is None:
            raise CommandError("--resume needs --out RUN (the run directory to continue)")
        config = resume_config(args.out, [*flags, *args.overrides])
    else:
        config = load_config(args.config, [*flags, *args.overrides])
    run_dir = args.out or Path("runs") / f"{Path(config.data.path).stem}-{config.model.name}"
    trainer, report = train(config, run_dir, resume=args.resume, progress=not args.quiet)
    if trainer.context.is_main:
        print(f"run directory {run_dir}; best checkpoint {run_dir / 'checkpoints' / 'best.pt'}")
        if report is not None:
            print(trainer.task.report_text(report))


def _run_evaluate(args) -> None:
    from operators import Surrogate
    from training.evaluation import (
        evaluate_resolutions,
        evaluate_surrogate,
        resolution_table,
        score_predictions,
        summary_table,
    )

    split = None if args.split == "all" else args.split
    datasets, args.data = args.data, args.data[0]
    if args.run is not None and args.predictions is None and _is_observer_run(args.run):
        _evaluate_observer_run(args, split)
        return
    if args.observations is not None:
        raise CommandError("--observations is for assimilation runs (task.kind=observer); this run is not one")
    if len(datasets) > 1:
        if args.predictions is not None or args.run is None:
            raise CommandError("several --data (a resolution study) need a run, not --predictions")
        surrogate = Surrogate.load(args.run).on_other_grids(args.other_grids)
        run_folder = args.run if args.run.is_dir() else args.run.parent
        out = args.out or run_folder / "evaluation-resolutions"
        rows = evaluate_resolutions(surrogate, datasets, out, split, args.trajectories, args.precision)
        print(resolution_table(rows))
        print(f"wrote {out / 'resolution.json'}, {out / 'error_vs_resolution.png'} and a report per dataset")
        return
    if args.predictions is not None:
        out = args.out or args.predictions.with_name(args.predictions.stem + "-evaluation")
        report = score_predictions(args.predictions, args.data, out)
        if report["training_samples"]:
            seen = report["training_samples"]
            print(
                f"warning: trajectories {seen[:10]}{' ...' if len(seen) > 10 else ''} lie in the training split of "
                f"{args.data}: a model trained on it has seen them, so these are training scores (predict a test "
                "trajectory, e.g. pdeop predict RUN --input DATA --sample N with N in the test split: pdeop info DATA)",
                file=sys.stderr,
            )
        if report["scored_steps"] < report["predicted_steps"]:
            print(
                f"scored the first {report['scored_steps']} of {report['predicted_steps']} predicted states: "
                f"{args.data} stores no later frames"
            )
    else:
        if args.run is None:
            raise CommandError("give a run directory (or checkpoint) to evaluate, or --predictions FILE")
        surrogate = Surrogate.load(args.run).on_other_grids(args.other_grids)
        run_folder = args.run if args.run.is_dir() else args.run.parent
        out = args.out or run_folder / f"evaluation-{args.data.stem}"
        report = evaluate_surrogate(surrogate, args.data, out, split, args.trajectories, args.precision)
    print(summary_table(report))
    print(f"wrote {out / 'evaluation.json'}, {out / 'error_vs_step.png'}, {out / 'prediction_vs_truth.png'}")


def _is_observer_run(run: Path) -> bool:
    from operators.checkpoint import load_checkpoint
    from operators.predictors import checkpoint_file

    return load_checkpoint(checkpoint_file(run), map_location="cpu").get("kind") == "observer"


def _evaluate_observer_run(args, split) -> None:
    import operators
    from training.assimilation import assimilation_table, evaluate_observer

    run_folder = args.run if args.run.is_dir() else args.run.parent
    out = args.out or run_folder / f"evaluation-{args.data.stem}"
    report = evaluate_observer(
        operators.load(args.run), args.data, out, split, args.trajectories, args.observations, run=args.run
    )
    print(assimilation_table(report))
    print(f"wrote {out / 'evaluation.json'}, {out / 'error_vs_time.png'}")


def _run_predict(args) -> None:
    from training.prediction import predict_to_file

    solver_frames = None if args.no_solver_timing else args.solver_frames
    summary = predict_to_file(
        args.run,
        args.input,
        args.out,
        args.steps,
        args.sample,
        args.device,
        args.precision,
        args.overwrite,
        progress=not args.quiet,
        solver_frames=solver_frames,
        other_grids=args.other_grids,
    )
    print(summary)


def _run_quickstart(args) -> None:
    from training.quickstart import quickstart

    quickstart(args.out, epochs=args.epochs, samples=args.samples, device=args.device, progress=not args.quiet)


# --- observe / assimilate -----------------------------------------------------------------------
def _add_assimilation(commands) -> None:
    from pde_data.observations import LAYOUTS, NOISE_KINDS

    observe = _add_command(
        commands,
        "observe",
        help="draw sparse, noisy observations of a dataset's trajectories into a file",
        description=(
            "Observe every trajectory of DATA (or a split): sensors at a fraction of the grid points, Gaussian "
            "noise, every k-th frame or at random times, seeded per trajectory. The file holds values, mask, "
            "times and the observation model; 'pdeop assimilate' and 'pdeop evaluate --observations' read it."
        ),
    )
    observe.add_argument("data", type=Path, help="trajectory file (from 'pdeop generate')")
    observe.add_argument("--out", required=True, type=Path, help="observation file (.h5)")
    observe.add_argument("--sensors", type=float, default=0.1, help="fraction of grid points observed (default 0.1)")
    observe.add_argument("--layout", choices=LAYOUTS, default="random", help="where sensors sit (default random)")
    observe.add_argument("--noise", type=float, default=0.0, help="noise standard deviation (default 0)")
    observe.add_argument(
        "--noise-kind",
        choices=NOISE_KINDS,
        default="relative",
        help="relative: times each channel's std over the trajectory (default); absolute",
    )
    observe.add_argument("--every", type=_positive_int, default=1, help="observe every k-th frame (default 1)")
    observe.add_argument("--rate", type=float, help="irregular times: observe each frame with this probability")
    observe.add_argument("--seed", type=int, default=0)
    observe.add_argument("--split", help="train, valid or test (default: every trajectory)")
    observe.add_argument("--overwrite", action="store_true")
    observe.set_defaults(handler=_run_observe)

    assimilate = _add_command(
        commands,
        "assimilate",
        help="assimilate an observation file with a trained observer and save the states",
        description="Analysed states over the observed frames, then --steps forecasts, in the dataset format.",
    )
    assimilate.add_argument("run", type=Path, help="assimilation run directory or checkpoint")
    assimilate.add_argument("--data", required=True, type=Path, help="the trajectory file that was observed")
    assimilate.add_argument("--observations", required=True, type=Path, help="from 'pdeop observe'")
    assimilate.add_argument("--out", required=True, type=Path, help="result file (.h5)")
    assimilate.add_argument("--steps", type=int, default=0, help="forecast states after the observations")
    assimilate.add_argument("--overwrite", action="store_true")
    assimilate.set_defaults(handler=_run_assimilate)


def _run_observe(args) -> None:
    from pde_data.observations import ObservationModel, write_observations

    model = ObservationModel(args.sensors, args.layout, args.noise, args.noise_kind, args.every, args.rate, args.seed)
    path = write_observations(args.data, args.out, model, args.split, args.overwrite)
    print(f"wrote {path}")


def _run_assimilate(args) -> None:
    from training.assimilation import assimilate_to_file

    print(assimilate_to_file(args.run, args.data, args.observations, args.out, args.steps, args.overwrite))


# --- sample -------------------------------------------------------------------------------------
def _add_sampling(commands) -> None:
    parser = _add_command(
        commands,
        "sample",
        help="generate whole trajectories with a trained generator (Text2PDE)",
        description=(
            "Sample trajectories from a latent-diffusion run, conditioned on a text prompt (--prompt) or on the "
            "first frame of a dataset trajectory (--first-frame DATA --sample I), and write them in the dataset "
            "format (pdeop plot and pde_data.open read it)."
        ),
    )
    parser.add_argument("run", type=Path, help="latent-diffusion run directory or checkpoint")
    parser.add_argument("--prompt", help="the text a text generator is conditioned on")
    parser.add_argument(
        "--first-frame", type=Path, metavar="DATA", help="dataset whose trajectory --sample gives frame 0"
    )
    parser.add_argument("--sample", type=int, nargs="+", metavar="I", help="trajectory index(es) in DATA (default 0)")
    parser.add_argument("--samples", type=_positive_int, default=1, help="trajectories per condition (default 1)")
    parser.add_argument("--steps", type=_positive_int, default=50, help="DDIM steps (default 50)")
    parser.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance weight (default 1)")
    parser.add_argument("--eta", type=float, default=0.0, help="DDIM noise: 0 deterministic, 1 ancestral (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--out", required=True, type=Path, help="result file (.h5)")
    parser.add_argument("--overwrite", action="store_true")
    parser.set_defaults(handler=_run_sample)


def _run_sample(args) -> None:
    from training.sampling import sample_to_file

    print(
        sample_to_file(
            args.run,
            args.out,
            args.prompt,
            args.first_frame,
            args.sample,
            args.samples,
            args.steps,
            args.guidance,
            args.eta,
            args.seed,
            args.device,
            args.overwrite,
        )
    )


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
    _add_conversion(commands)
    _add_training(commands)
    _add_bench(commands)
    _add_assimilation(commands)
    _add_sampling(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        apply_threads(args.threads)
        args.handler(args)
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at interpreter exit
    except KeyboardInterrupt:
        print("pdeop: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of the output went away (e.g. `pdeop info FILE | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except InputError as error:
        return _report(args.command, error)
    except OSError as error:
        if error.errno not in ENVIRONMENT_ERRNOS:
            raise
        return _report(args.command, error)
    return 0


def _report(command: str, error: BaseException) -> int:
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    print(f"pdeop {command}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
