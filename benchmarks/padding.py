"""Circular padding's cost in the convolutional models: training-step seconds with zero padding, with
torch's circular padding (``F.pad(mode="circular")``, and for SineNet's periodic bicubic upsampling a padded copy interpolated
and cropped: what the models used before ``operators.layers.periodic``) and with ``operators.layers.periodic``
(slices and one ``torch.cat`` per axis; the upsampling as two separable 4-tap stencils).

    python benchmarks/padding.py                   # CPU, 64^2, batch 16, a minute or two
    python benchmarks/padding.py --threads 1 --device cuda

Each model is built once per padding (same seed), then timed over ``--steps`` training steps
(forward, backward, AdamW) after one warm-up step; median of ``--repeats``. Prints a table with the
ratio of each circular variant to zero padding and writes JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from unittest import mock

import _common
import torch
from torch.nn import functional as F

import operators
import operators.layers.periodic
import operators.models.sinenet

MODELS = {
    "sinenet": {"hidden": 16, "waves": 4},
    "unet": {"hidden": 8, "kernel_size": 3},
    "mgno": {"channels": 32, "layers": 3, "levels": 3, "ndim": 2},
}


def torch_circular(x: torch.Tensor, pads) -> torch.Tensor:
    return F.pad(x, tuple(pads), mode="circular")


def torch_circular_upsample(x: torch.Tensor) -> torch.Tensor:
    """SineNet's periodic x2 bicubic upsampling as it was: pad 2 cells, interpolate, crop 4."""
    padded = F.pad(x, (2, 2, 2, 2), mode="circular")
    return F.interpolate(padded, scale_factor=2, mode="bicubic")[..., 4:-4, 4:-4]


@contextlib.contextmanager
def padding_variant(variant: str):
    """``periodic``: as the models are; ``torch``: every periodic pad done by ``F.pad`` instead."""
    if variant != "torch":
        yield
        return
    with (
        mock.patch.object(operators.layers.periodic, "periodic_pad", torch_circular),
        mock.patch.object(operators.models.sinenet, "periodic_bicubic_upsample", torch_circular_upsample),
    ):
        yield


def step_seconds(name: str, padding: str, variant: str, args) -> float:
    torch.manual_seed(0)
    model = operators.build(name, in_channels=1, out_channels=1, padding=padding, **MODELS[name]).to(args.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(args.batch, 1, args.n, args.n, device=args.device)
    target = torch.randn_like(x)

    def steps():
        for _ in range(args.steps):
            optimizer.zero_grad(set_to_none=True)
            torch.mean((model(x) - target) ** 2).backward()
            optimizer.step()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    with padding_variant(variant):
        steps()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            steps()
            times.append((time.perf_counter() - start) / args.steps)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    parser.add_argument("--json", default="benchmarks/results/padding.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"{args.device}, {torch.get_num_threads()} torch threads, {args.n}^2, batch {args.batch}; "
        f"seconds per training step (median of {args.repeats})"
    )
    print(f"{'model':<8} {'zeros':>8} {'torch circular':>15} {'ratio':>6} {'periodic':>9} {'ratio':>6}")
    rows = []
    for name in args.models:
        zeros = step_seconds(name, "zeros", "periodic", args)
        old = step_seconds(name, "circular", "torch", args)
        new = step_seconds(name, "circular", "periodic", args)
        rows.append(
            {
                "model": name,
                "zeros": zeros,
                "torch_circular": old,
                "periodic": new,
                "torch_circular_over_zeros": old / zeros,
                "periodic_over_zeros": new / zeros,
            }
        )
        print(f"{name:<8} {zeros:>8.4f} {old:>15.4f} {old / zeros:>6.2f} {new:>9.4f} {new / zeros:>6.2f}", flush=True)
    _common.write_json({"threads": torch.get_num_threads(), "n": args.n, "batch": args.batch, "rows": rows}, args.json)
    return rows


if __name__ == "__main__":
    main()
