"""Training objectives ("tasks"), selected by ``task.kind``: see ``training.tasks.base`` for the interface.

Built in: ``next-step`` (autoregressive surrogates, rollouts, pushforward),
``operator`` (``u(0) -> u(T)``), ``observer`` (the semilinear observer: assimilation) and
``physics`` (trained by the PDE residual from initial conditions alone) ``autoencoder``
(a trajectory autoencoder, Text2PDE's first stage) and ``latent-diffusion`` (its second stage). A new objective is a ``Task`` subclass decorated
with ``@register_task``; the trainer does not change.
"""

from training.tasks.assimilation import AssimilationTask
from training.tasks.autoencoder import AutoencoderTask
from training.tasks.base import Task, build_task, register_task, task_class, task_kinds, unwrap
from training.tasks.latent_diffusion import LatentDiffusionTask
from training.tasks.next_step import NextStepTask
from training.tasks.operator import OperatorTask
from training.tasks.physics import PhysicsTask
from training.tasks.surrogate import SurrogateTask

__all__ = [
    "AssimilationTask",
    "AutoencoderTask",
    "LatentDiffusionTask",
    "NextStepTask",
    "OperatorTask",
    "PhysicsTask",
    "SurrogateTask",
    "Task",
    "build_task",
    "register_task",
    "task_class",
    "task_kinds",
    "unwrap",
]
