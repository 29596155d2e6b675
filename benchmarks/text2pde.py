"""Text2PDE at CPU size: a trajectory autoencoder and two latent DiTs (first frame, text) on ns-text-tiny.

    python benchmarks/text2pde.py                      # CPU size (minutes per stage), writes JSON
    python benchmarks/text2pde.py --preset ns-text --train 2000 --device cuda --ae-epochs 200 --dit-epochs 500

Everything trains through the shared trainer (``pdeop train`` configs): the autoencoder (task
``autoencoder``), a first-frame and a text-conditioned ``latent-dit`` (task ``latent-diffusion``; text
through all-MiniLM-L6-v2 when its package is installed, else the tiny random BERT), and an FNO
next-step baseline, all on the same training file; then, on a separate test file:

First frame: relative L2 of the whole generated trajectory against the truth (every frame after the
first), beside the FNO rolled out from the same first frame and the autoencoder's own reconstruction
(the floor a latent generator cannot beat) and persistence (the first frame held); the generator
also with each ``--guidance`` weight, and the mean of ``--seeds`` samples per frame (the first frame
does not show the viscosity or the forcing, so the future is uncertain: a sample from exactly the
right distribution errs by about sqrt(2) times the conditional mean's error, which a deterministic
forecaster such as the FNO is trained to approach); seconds per trajectory for the generator (DDIM),
the FNO and the solver (ETDRK4 on the preset's solver grid, the test batch at once).

Text: for each test caption, ``--seeds`` samples; the viscosity read back from each trajectory by the
enstrophy budget (``training.evaluation.physical_consistency``, with the prompted forcing), also from the true
trajectory (the estimator's own accuracy); Spearman rank correlation of prompted and read-back
viscosities; the Kolmogorov wavenumber read back from the mean flow; the log-spectrum error against
the true trajectory; the diversity across seeds. Claim tested: text-conditioned samples recover the
prompted viscosity well enough to rank viscosities correctly (Spearman close to the truth's).
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

import operators
import pde_data
from pde_data.generation import sample_seed, solve_chunk
from pde_data.parameters import forcing_field
from pde_data.storage import file_recipe
from training.bench import training_seconds
from training.config import load_config
from training.evaluation.metrics import relative_l2
from training.evaluation.physical_consistency import (
    diversity,
    enstrophy_budget_viscosity,
    mean_flow_wavenumber,
    spearman,
    spectrum_error,
)
from training.run import train


def text_encoder() -> str:
    try:
        from operators.layers.conditioning import minilm_folder

        minilm_folder()
        return "minilm"
    except Exception:  # the weights package (or transformers) is missing: the tiny random BERT
        return "tiny-random"


def settings(data: Path, args, *extra: str) -> list[str]:
    return [
        f"data.path={data}",
        f"train.device={args.device}",
        "optim.name=adamw",
        "schedule.name=cosine",
        "train.eval_trajectories=2",
        *extra,
    ]


def trained(name: str, config: list[str], folder: Path) -> tuple[Path, float]:
    """Train ``folder/name`` (a run left there by an earlier call resumes: a finished one is reused);
    the seconds its epochs took."""
    run = folder / name
    resume = (run / "checkpoints" / "last.pt").is_file()
    train(load_config(None, config), run, resume=resume, progress=False, evaluate=False)
    return run, training_seconds(run)


def grid_coordinates(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.arange(n, dtype=torch.float64) / n
    return torch.meshgrid(x, x, indexing="ij")


def first_frame_table(generator, fno, autoencoder, test, args) -> dict:
    truth = torch.stack([test[i]["fields"] for i in range(len(test))])  # (M, T, 1, n, n)
    frames = truth.shape[1]
    start = time.perf_counter()
    generated = generator.sample(first_frame=truth[:, 0], steps=args.steps, seed=0, guidance=1.0).cpu()
    generator_seconds = (time.perf_counter() - start) / len(truth)
    guided = {
        w: generator.sample(first_frame=truth[:, 0], steps=args.steps, seed=0, guidance=w).cpu()
        for w in args.guidance
        if w != 1.0
    }
    # the mean of several samples estimates the conditional mean, which a deterministic forecaster
    # (the FNO) is trained to give: a single sample of an uncertain future errs by about sqrt(2)
    # times the conditional mean's error even when its distribution is exactly right
    ensemble = generator.sample(first_frame=truth[:, 0], samples=args.seeds, steps=args.steps, seed=1).cpu()
    ensemble_mean = ensemble.reshape(len(truth), args.seeds, *ensemble.shape[1:]).mean(dim=1)
    start = time.perf_counter()
    rollout = fno.predict(truth[:, :1], frames - 1).cpu()
    fno_seconds = (time.perf_counter() - start) / len(truth)
    reconstruction = autoencoder.reconstruct(truth).cpu()
    recipe = test.recipe
    indices = list(range(len(truth)))
    start = time.perf_counter()
    solve_chunk(recipe, indices, [sample_seed(args.seed + 1, "test", i) for i in indices], args.device, None)
    solver_seconds = (time.perf_counter() - start) / len(truth)

    def error(prediction: torch.Tensor) -> float:
        return float(relative_l2(prediction, truth[:, 1:], channel_axis=2))

    by_guidance = {1.0: error(generated[:, 1:])} | {w: error(g[:, 1:]) for w, g in guided.items()}
    return {
        "generator": by_guidance[1.0],
        "generator_by_guidance": by_guidance,
        "fno": error(rollout),
        "ensemble_mean": error(ensemble_mean[:, 1:]),
        "ensemble": args.seeds,
        "autoencoder": error(reconstruction[:, 1:]),
        "persistence": error(truth[:, :1].expand_as(truth[:, 1:])),
        "seconds_generator": generator_seconds,
        "seconds_fno": fno_seconds,
        "seconds_solver": solver_seconds,
        "steps": args.steps,
    }


def text_table(generator, test, args, guidance: float) -> dict:
    n, dt, length = test.grid_shape[0], test.recipe.t_end / (test.recipe.total_frames - 1), test.recipe.length
    X, Y = grid_coordinates(n)
    prompted, from_truth, from_samples, waves, spectra, spreads = [], [], [], [], [], []
    for i in range(len(test)):
        item = test[i]
        values, truth = item["parameters"], item["fields"][:, 0]
        forcing = forcing_field(values["forcing"], X * length, Y * length, length, values)
        samples = generator.sample(
            prompt=item["caption"], samples=args.seeds, steps=args.steps, guidance=guidance, seed=i
        ).cpu()[:, :, 0]
        prompted.append(values["nu"])
        from_truth.append(enstrophy_budget_viscosity(truth, dt, length, forcing))
        from_samples.append(statistics.median(enstrophy_budget_viscosity(s, dt, length, forcing) for s in samples))
        if values["forcing"] == "kolmogorov":
            wanted = int(values["forcing_wavenumber"])
            waves.append((wanted, mean_flow_wavenumber(truth), [mean_flow_wavenumber(s) for s in samples]))
        spectra.append(statistics.mean(spectrum_error(s, truth, length) for s in samples))
        spreads.append(diversity(samples))
    ratio = [s / p for s, p in zip(from_samples, prompted, strict=True)]
    return {
        "guidance": guidance,
        "spearman_truth": spearman(prompted, from_truth),
        "spearman_generated": spearman(prompted, from_samples),
        "median_ratio_generated": statistics.median(ratio),
        "median_ratio_truth": statistics.median(t / p for t, p in zip(from_truth, prompted, strict=True)),
        "kolmogorov_truth_correct": sum(w == t for w, t, _ in waves) / max(1, len(waves)),
        "kolmogorov_generated_correct": sum(w == s for w, _, ss in waves for s in ss) / max(1, args.seeds * len(waves)),
        "kolmogorov_prompts": len(waves),
        "log_spectrum_error": statistics.mean(spectra),
        "diversity": statistics.mean(spreads),
        "per_prompt": {"prompted": prompted, "truth": from_truth, "generated": from_samples},
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ns-text-tiny")
    parser.add_argument("--train", type=int, default=256, help="training trajectories (10 %% validation)")
    parser.add_argument("--test", type=int, default=24, help="test trajectories (a separate file)")
    parser.add_argument("--ae-epochs", type=int, default=20)
    parser.add_argument("--dit-epochs", type=int, default=60, help="the text-conditioned DiT's epochs")
    parser.add_argument("--first-frame-epochs", type=int, default=200, help="the first-frame DiT's epochs")
    parser.add_argument("--fno-epochs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps when sampling")
    parser.add_argument(
        "--seeds", type=int, default=4, help="samples per caption, and per first frame for the ensemble mean"
    )
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the data and runs here (reused)")
    parser.add_argument("--json", default="benchmarks/results/text2pde.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        data, test_file = folder / f"{args.preset}-{args.train}.h5", folder / f"{args.preset}-test-{args.test}.h5"
        if not data.exists():
            pde_data.generate(args.preset, data, args.train, seed=args.seed, progress=False, device=args.device)
        if not test_file.exists():
            pde_data.generate(
                args.preset, test_file, args.test, seed=args.seed + 1, split="test", progress=False, device=args.device
            )
        test = pde_data.FullTrajectoryDataset(test_file)
        encoder = text_encoder()
        ae = "{hidden: 16, multipliers: [1, 2, 2], latent_channels: 4}"
        dit = f"{{width: 128, depth: 4, heads: 4, text_encoder: {encoder}}}"
        seconds = {}
        ae_run, seconds["autoencoder"] = trained(
            "ae",
            settings(
                data,
                args,
                "task.kind=autoencoder",
                "model.name=trajectory-autoencoder",
                f"model.hyperparameters={ae}",
                f"train.epochs={args.ae_epochs}",
                "data.batch_size=8",
                "optim.lr=2.0e-3",
            ),
            folder,
        )
        runs = {}
        epochs = {"first-frame": args.first_frame_epochs, "text": args.dit_epochs}
        for condition in ("first-frame", "text"):
            runs[condition], seconds[condition] = trained(
                condition,
                settings(
                    data,
                    args,
                    "task.kind=latent-diffusion",
                    f"task.autoencoder={ae_run}",
                    f"task.condition={condition}",
                    "model.name=latent-dit",
                    f"model.hyperparameters={dit}",
                    f"train.epochs={epochs[condition]}",
                    "data.batch_size=16",
                    "optim.lr=5.0e-4",
                ),
                folder,
            )
        fno_run, seconds["fno"] = trained(
            "fno",
            settings(
                data,
                args,
                "model.name=fno",
                f"train.epochs={args.fno_epochs}",
                "model.hyperparameters={modes: 8, width: 32}",
                "data.batch_size=16",
                "optim.lr=2.0e-3",
            ),
            folder,
        )
        autoencoder = operators.load(ae_run, device=args.device)
        first = first_frame_table(
            operators.load(runs["first-frame"], device=args.device),
            operators.load(fno_run, device=args.device),
            autoencoder,
            test,
            args,
        )
        texts = [text_table(operators.load(runs["text"], device=args.device), test, args, w) for w in args.guidance]
        recipe = file_recipe(data)
    result = {
        "preset": args.preset,
        "recipe": dataclasses.asdict(recipe),
        "train": args.train,
        "test": args.test,
        "text_encoder": encoder,
        "epochs": {
            "autoencoder": args.ae_epochs,
            "dit": args.dit_epochs,
            "first_frame_dit": args.first_frame_epochs,
            "fno": args.fno_epochs,
        },
        "train_seconds": seconds,
        "threads": torch.get_num_threads(),
        "first_frame": first,
        "text": texts,
    }
    _common.write_json(result, args.json)
    print(
        f"{args.preset}: {args.train} training / {args.test} test trajectories, text encoder {encoder}, "
        f"{torch.get_num_threads()} thread(s); training seconds "
        + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
    )
    print(
        f"first frame ({args.steps} DDIM steps): relative L2 of the trajectory: generator {first['generator']:.4f}, "
        f"FNO rollout {first['fno']:.4f}, autoencoder reconstruction {first['autoencoder']:.4f}, persistence "
        f"{first['persistence']:.4f}; mean of {first['ensemble']} generated samples {first['ensemble_mean']:.4f}; "
        f"generator with guidance "
        + ", ".join(f"{w:g}: {e:.4f}" for w, e in first["generator_by_guidance"].items())
        + "; seconds per "
        f"trajectory: generator {first['seconds_generator']:.3f}, FNO {first['seconds_fno']:.4f}, solver "
        f"{first['seconds_solver']:.3f}"
    )
    print(
        f"{'guidance':>8} {'rho truth':>9} {'rho gen':>8} {'nu ratio gen':>12} {'kolmogorov k truth/gen':>23} "
        f"{'log-spectrum err':>16} {'diversity':>9}"
    )
    for row in texts:
        print(
            f"{row['guidance']:>8g} {row['spearman_truth']:>9.3f} {row['spearman_generated']:>8.3f} "
            f"{row['median_ratio_generated']:>12.3f} {row['kolmogorov_truth_correct']:>11.2f} / "
            f"{row['kolmogorov_generated_correct']:<9.2f} {row['log_spectrum_error']:>16.3f} {row['diversity']:>9.3f}"
        )
    return result


if __name__ == "__main__":
    main()
