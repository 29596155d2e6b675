"""``pdeop bench``: every chosen model on one suite, scored into a leaderboard."""

from __future__ import annotations

from pathlib import Path

from training.cli.common import CommandError, add_command

#: command -> its line in ``pdeop --help``
HELP = {
    "bench": "train every chosen model on one suite and budget; write a leaderboard",
}


def _add_bench(commands) -> None:
    from training.bench import SUITES, TIERS, benchable

    bench = add_command(
        commands,
        "bench",
        help=HELP["bench"],
        description=(
            "For each model: generate (or reuse) the suite's data, train it at the tier's size through the shared "
            "trainer, evaluate on the test split, time inference per trajectory (batch 64) and the spectral solver "
            "on the same grid, horizon and device. Writes OUT/leaderboard.md, leaderboard.json, error_vs_step.png "
            "and pareto.png. Finished models are kept: rerunning the command continues an interrupted bench. "
            f"Suites: {', '.join(SUITES)}, any preset of 'pdeop generate', or a Well dataset directory."
        ),
    )
    bench.add_argument("suite", help="a suite name, a preset name or a Well dataset directory")
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
    bench.add_argument(
        "--bundle",
        type=int,
        default=1,
        metavar="K",
        help="temporal bundling: next-step models predict K states per call (data.horizon; default 1)",
    )
    bench.add_argument(
        "--direct",
        action="store_true",
        help="train next-step models as direct operators u(0) -> u(T) instead (one call for the whole horizon)",
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
    bench.add_argument(
        "--keep-solver",
        action="store_true",
        help="with --retime: time the models only, keeping the stored solver and ladder timings "
        "(already measured alone, or copied from a bench of the same suite that was)",
    )
    bench.set_defaults(handler=_run_bench)


def _run_bench(args) -> None:
    from training.bench import Bench, benchable, leaderboard, score_external
    from training.evaluation.rollouts import check_predictions

    kind, _, value = args.budget.partition("=")
    try:
        amount = float(value) if value else None
    except ValueError:
        raise CommandError(f"--budget {args.budget}: the value after = must be a number") from None
    for path in args.predictions:  # before training, which may take hours
        check_predictions(path)
    bench = Bench(
        args.suite,
        args.out,
        args.tier,
        kind,
        amount,
        args.device,
        progress=not args.quiet,
        bundle=args.bundle,
        direct=args.direct,
    )
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else benchable()
    if args.keep_solver and not args.retime:
        raise CommandError("--keep-solver goes with --retime (a bench measures its solver once anyway)")
    if args.retime:
        bench.retime(models, solver=not args.keep_solver)
    elif args.models is None or models:
        bench.run(models)
    for path in args.predictions:
        score_external(bench, path)
    written = leaderboard.write(args.out)
    print(written[0].read_text())
    print("wrote " + ", ".join(str(p) for p in written))


#: command -> the function that adds its parser (and handler)
ADDERS = {
    "bench": _add_bench,
}
