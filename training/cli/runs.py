"""``pdeop train``, ``evaluate``, ``predict`` and ``quickstart``: training a surrogate and using the run."""

from __future__ import annotations

import sys
from pathlib import Path

from training.cli.common import CommandError, add_command, positive_int

#: command -> its line in ``pdeop --help``
HELP = {
    "train": "train a surrogate on a dataset",
    "evaluate": "score a trained run (or stored predictions) on a dataset",
    "predict": "roll a trained surrogate out and save the predictions",
    "quickstart": "the whole pipeline on a tiny problem, in a few minutes on a laptop CPU",
}


OTHER_GRIDS_HELP = (
    "how a grid-tied model meets data on another grid: direct (run it there anyway, to measure how it degrades) or "
    "interpolate (resample each input to the training grid and the output back); resolution-agnostic models "
    "(fno, localno, *-no, resolution_consistent) need neither"
)


def _add_train(commands) -> None:
    import operators
    from training.tasks import task_kinds

    train = add_command(
        commands,
        "train",
        help=HELP["train"],
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


def _add_evaluate(commands) -> None:
    evaluate = add_command(
        commands,
        "evaluate",
        help=HELP["evaluate"],
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
    evaluate.add_argument("--trajectories", type=positive_int, help="at most this many trajectories")
    evaluate.add_argument("--out", type=Path, help="report folder (default RUN/evaluation-<data name>)")
    evaluate.add_argument("--precision", choices=["fp32", "bf16", "fp16"])
    evaluate.add_argument("--other-grids", choices=["direct", "interpolate"], help=OTHER_GRIDS_HELP)
    evaluate.add_argument(
        "--observations", type=Path, help="assimilation runs: observations from 'pdeop observe' (default: drawn)"
    )
    evaluate.set_defaults(handler=_run_evaluate)


def _add_predict(commands) -> None:
    predict = add_command(
        commands,
        "predict",
        help=HELP["predict"],
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
        type=positive_int,
        default=50,
        help="time the solver over at most this many frame intervals and scale to the rollout (default 50)",
    )
    predict.add_argument("--no-solver-timing", action="store_true", help="skip the solver comparison")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.add_argument("--other-grids", choices=["direct", "interpolate"], help=OTHER_GRIDS_HELP)
    predict.add_argument(
        "--plain-inference",
        action="store_true",
        help="turn off the fast inference settings (channels-last weights for the U-Net and MgNO, and on the CPU "
        "a large batch split into cache-sized model calls; results equal up to float rounding): for comparisons",
    )
    predict.set_defaults(handler=_run_predict)


def _add_quickstart(commands) -> None:
    quick = add_command(
        commands,
        "quickstart",
        help=HELP["quickstart"],
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
    from training.evaluation.rollouts import (
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
    from operators.predictors.checkpoint import load_checkpoint
    from operators.predictors.registry import checkpoint_file

    return load_checkpoint(checkpoint_file(run), map_location="cpu").get("kind") == "observer"


def _evaluate_observer_run(args, split) -> None:
    import operators
    from training.evaluation.assimilation import assimilation_table, evaluate_observer

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
        fast_inference=not args.plain_inference,
    )
    print(summary)


def _run_quickstart(args) -> None:
    from training.quickstart import quickstart

    quickstart(args.out, epochs=args.epochs, samples=args.samples, device=args.device, progress=not args.quiet)


#: command -> the function that adds its parser (and handler)
ADDERS = {
    "train": _add_train,
    "evaluate": _add_evaluate,
    "predict": _add_predict,
    "quickstart": _add_quickstart,
}
