"""``pdeop sample``: whole trajectories from a trained generator (Text2PDE)."""

from __future__ import annotations

from pathlib import Path

from training.cli.common import add_command, positive_int

#: command -> its line in ``pdeop --help``
HELP = {
    "sample": "generate whole trajectories with a trained generator (Text2PDE)",
}


def _add_sample(commands) -> None:
    parser = add_command(
        commands,
        "sample",
        help=HELP["sample"],
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
    parser.add_argument("--samples", type=positive_int, default=1, help="trajectories per condition (default 1)")
    parser.add_argument("--steps", type=positive_int, default=50, help="DDIM steps (default 50)")
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


#: command -> the function that adds its parser (and handler)
ADDERS = {
    "sample": _add_sample,
}
