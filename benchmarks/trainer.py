"""Training throughput: our Trainer vs neuraloperator's Trainer on the same FNO, data and batch size.

    python benchmarks/trainer.py                 # CPU, 2D NS 32^2, a minute or two
    python benchmarks/trainer.py --device cuda   # also fp32 / bf16 / fp16 speed and memory of our Trainer

Both trainers get the same in-memory windows, the same FNO (same initial
weights), batch size, optimizer (AdamW) and epochs, and each validates on the
same small set after every epoch; ours also writes its checkpoints (each repeat a fresh
run). A bare loop (no trainer: batches, forward, loss, backward, step, validation) bounds what
any trainer can gain on this model. The runs take turns (``--repeats``) and the ratios are
medians of per-repeat ratios. Prints a table and writes JSON (``--json``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import _common
import torch
from neuralop.losses import LpLoss
from neuralop.training import Trainer as NeuralopTrainer

import operators
import pde_data
from training.config import load_config
from training.evaluation.metrics import relative_l2
from training.tasks import build_task
from training.trainer import Trainer


class Windows(torch.utils.data.Dataset):
    """In-memory one-step windows, served under our keys or neuraloperator's."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, keys: tuple[str, str]):
        self.inputs, self.targets, self.keys = inputs, targets, keys

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> dict:
        return {self.keys[0]: self.inputs[i], self.keys[1]: self.targets[i]}


def windows(path: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    data = pde_data.TrajectoryDataset(path, history=1, horizon=1, split=split)
    items = [data[i] for i in range(len(data))]
    return torch.stack([w["input"] for w in items]), torch.stack([w["target"] for w in items])


def model(seed: int, width: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return operators.build("fno", in_channels=1, out_channels=1, ndim=2, modes=8, width=width, layers=4)


def ours(train, val, args, device: str, precision: str, folder: Path, path: Path) -> dict:
    config = load_config(
        None,
        [
            f"data.path={path}",
            f"train.epochs={args.epochs}",
            f"data.batch_size={args.batch_size}",
            f"train.device={device}",
            f"train.precision={precision}",
            "schedule.name=constant",
            "optim.weight_decay=0.0",
            "optim.grad_clip=null",
            "task.residual=false",
        ],
    )
    task = build_task(config)
    task.mean, task.std = torch.zeros(1), torch.ones(1)  # neuraloperator's trainer sees raw values too
    trainer = Trainer(
        model(0, args.width),
        task,
        config,
        Path(tempfile.mkdtemp(prefix=f"ours-{precision}-", dir=folder)),
        progress=False,
    )
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    start = time.perf_counter()
    trainer.fit(Windows(*train, ("input", "target")), Windows(*val, ("input", "target")))
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    memory = torch.cuda.max_memory_allocated() / 2**20 if trainer.device.type == "cuda" else None
    return {"seconds": seconds, "final_train_loss": trainer.history[-1]["train_loss"], "peak_memory_mib": memory}


def theirs(train, val, args, device: str) -> dict:
    net = model(0, args.width).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    loader = torch.utils.data.DataLoader(
        Windows(train[0][:, 0], train[1][:, 0], ("x", "y")), batch_size=args.batch_size, shuffle=True
    )
    val_loader = torch.utils.data.DataLoader(
        Windows(val[0][:, 0], val[1][:, 0], ("x", "y")), batch_size=args.batch_size
    )
    trainer = NeuralopTrainer(model=net, n_epochs=args.epochs, device=device, verbose=False)
    start = time.perf_counter()
    trainer.train(
        loader,
        {"val": val_loader},
        optimizer,
        scheduler,
        training_loss=LpLoss(d=2, p=2),
        eval_losses={"l2": LpLoss(d=2, p=2)},
    )
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - start}


def bare(train, val, args, device: str) -> dict:
    """The same work with no trainer at all: shuffled batches, forward, relative L2, backward, AdamW
    step, and a no-grad pass over the validation windows each epoch. No trainer can be faster than
    this on the same model, so ``bare / neuraloperator`` is the most any trainer can gain here."""
    net = model(0, args.width).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.0)
    generator = torch.Generator().manual_seed(0)
    inputs, targets = train[0][:, 0].to(device), train[1][:, 0].to(device)
    val_inputs, val_targets = val[0][:, 0].to(device), val[1][:, 0].to(device)
    start = time.perf_counter()
    for _ in range(args.epochs):
        for batch in torch.randperm(len(inputs), generator=generator).split(args.batch_size):
            loss = relative_l2(net(inputs[batch]), targets[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            for batch in torch.arange(len(val_inputs)).split(args.batch_size):
                relative_l2(net(val_inputs[batch]), val_targets[batch])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--preset", default="ns-fno-1e-3-tiny")
    parser.add_argument("--repeats", type=int, default=3, help="paired repeats of the three runs (medians reported)")
    parser.add_argument("--json", default="benchmarks/results/trainer.json")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = pde_data.generate(args.preset, folder / "data.h5", args.samples, progress=False)
        train, val = windows(data, "train"), windows(data, "valid")
        steps = args.epochs * -(-len(train[0]) // args.batch_size)
        print(
            f"{args.preset}: {len(train[0])} training windows, batch {args.batch_size}, {args.epochs} epochs "
            f"({steps} steps), FNO width {args.width}, device {args.device}, {torch.get_num_threads()} threads"
        )
        runs = {
            "neuraloperator": lambda: theirs(train, val, args, args.device),
            "pdeop": lambda: ours(train, val, args, args.device, "fp32", folder, data),
            "bare loop": lambda: bare(train, val, args, args.device),
        }
        results = _common.take_turns(runs, args.repeats)
        seconds = {name: [r["seconds"] for r in repeats] for name, repeats in results.items()}
        for name, repeats in results.items():
            middle = repeats[seconds[name].index(statistics.median_low(seconds[name]))]  # the median run's row
            rows.append(
                {
                    "trainer": name,
                    "precision": "fp32",
                    **middle,
                    "steps_per_second": steps / middle["seconds"],
                    "seconds_per_repeat": seconds[name],
                }
            )
        ratios = {
            name: _common.median_ratio(seconds["neuraloperator"], seconds[name]) for name in ("pdeop", "bare loop")
        }
        if args.device.startswith("cuda"):
            for precision in ("bf16", "fp16"):
                result = ours(train, val, args, args.device, precision, folder, data)
                rows.append(
                    {
                        "trainer": "pdeop",
                        "precision": precision,
                        **result,
                        "steps_per_second": steps / result["seconds"],
                    }
                )
    print(f"{'trainer':<16} {'precision':<9} {'seconds':>8} {'steps/s':>8} {'peak MiB':>9}")
    for row in rows:
        memory = f"{row['peak_memory_mib']:.0f}" if row.get("peak_memory_mib") else "-"
        print(
            f"{row['trainer']:<16} {row['precision']:<9} {row['seconds']:>8.2f} {row['steps_per_second']:>8.1f} {memory:>9}"
        )
    print(
        f"pdeop / neuraloperator steps per second: {ratios['pdeop']:.2f} (median of {args.repeats} paired repeats); "
        f"a bare loop / neuraloperator: {ratios['bare loop']:.2f} (the most a trainer can gain)"
    )
    _common.write_json(
        {
            "rows": rows,
            "ratio_pdeop_over_neuraloperator": ratios["pdeop"],
            "ratio_bare_loop_over_neuraloperator": ratios["bare loop"],
            "threads": torch.get_num_threads(),
            "settings": vars(args),
        },
        args.json,
    )
    return rows


if __name__ == "__main__":
    main()
