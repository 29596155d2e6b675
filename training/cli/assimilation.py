"""``pdeop observe`` and ``assimilate``: sparse, noisy observations and a trained observer."""

from __future__ import annotations

from pathlib import Path

from training.cli.common import add_command, positive_int

#: command -> its line in ``pdeop --help``
HELP = {
    "observe": "draw sparse, noisy observations of a dataset's trajectories into a file",
    "assimilate": "assimilate an observation file with a trained observer and save the states",
}


def _add_observe(commands) -> None:
    from pde_data.observations import LAYOUTS, NOISE_KINDS

    observe = add_command(
        commands,
        "observe",
        help=HELP["observe"],
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
    observe.add_argument("--every", type=positive_int, default=1, help="observe every k-th frame (default 1)")
    observe.add_argument("--rate", type=float, help="irregular times: observe each frame with this probability")
    observe.add_argument("--seed", type=int, default=0)
    observe.add_argument("--split", help="train, valid or test (default: every trajectory)")
    observe.add_argument("--overwrite", action="store_true")
    observe.set_defaults(handler=_run_observe)


def _add_assimilate(commands) -> None:
    assimilate = add_command(
        commands,
        "assimilate",
        help=HELP["assimilate"],
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
    from training.evaluation.assimilation import assimilate_to_file

    print(assimilate_to_file(args.run, args.data, args.observations, args.out, args.steps, args.overwrite))


#: command -> the function that adds its parser (and handler)
ADDERS = {
    "observe": _add_observe,
    "assimilate": _add_assimilate,
}
