"""Optimizers and learning-rate schedules from the run configuration (stepped once per optimizer step)."""

from __future__ import annotations

import math

import torch

from training.config import OptimConfig, ScheduleConfig


def build_optimizer(parameters, config: OptimConfig) -> torch.optim.Optimizer:
    if config.name == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay, betas=config.betas)
    if config.name == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay, betas=config.betas)
    return torch.optim.SGD(parameters, lr=config.lr, weight_decay=config.weight_decay, momentum=config.betas[0])


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: ScheduleConfig, total_steps: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-step scheduler over ``total_steps`` optimizer steps."""
    if config.name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[group["lr"] for group in optimizer.param_groups],
            total_steps=max(total_steps, 2),
            pct_start=config.pct_start,
            div_factor=config.div_factor,
            final_div_factor=config.final_div_factor,
        )
    if config.name == "cosine":
        warmup, floor = config.warmup_steps, config.min_lr_ratio

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    elif config.name == "step":
        period = config.step_epochs * steps_per_epoch

        def factor(step: int) -> float:
            return config.gamma ** (step // period)

    else:

        def factor(step: int) -> float:
            return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
