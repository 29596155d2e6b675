"""Training objectives ("tasks"), selected by ``task.kind``: see ``training.tasks.base`` for the interface.

Built in: ``next-step`` (autoregressive surrogates, rollouts, pushforward),
``operator`` (``u(0) -> u(T)``), ``observer`` (the semilinear observer: assimilation),
``physics`` (trained by the PDE residual from initial conditions alone), ``autoencoder``
(a trajectory autoencoder, Text2PDE's first stage) and ``latent-diffusion`` (its second stage). A new
objective is a ``Task`` subclass decorated with ``@register_task``; the trainer does not change.
Each task's configuration fields are in ``training.tasks.options``, which reads without torch; the
names below load on first use.
"""

from typing import TYPE_CHECKING

from solvers.lazy import lazy_exports

if TYPE_CHECKING:
    from training.tasks.assimilation import AssimilationTask
    from training.tasks.autoencoder import AutoencoderTask
    from training.tasks.base import Task, build_task, register_task, task_class, unwrap
    from training.tasks.latent_diffusion import LatentDiffusionTask
    from training.tasks.next_step import NextStepTask
    from training.tasks.operator import OperatorTask
    from training.tasks.options import TaskOptions, register_options, task_kinds
    from training.tasks.physics import PhysicsTask
    from training.tasks.surrogate import SurrogateTask

_EXPORTS = {
    "AssimilationTask": "training.tasks.assimilation",
    "AutoencoderTask": "training.tasks.autoencoder",
    "LatentDiffusionTask": "training.tasks.latent_diffusion",
    "NextStepTask": "training.tasks.next_step",
    "OperatorTask": "training.tasks.operator",
    "PhysicsTask": "training.tasks.physics",
    "SurrogateTask": "training.tasks.surrogate",
    "Task": "training.tasks.base",
    "build_task": "training.tasks.base",
    "register_task": "training.tasks.base",
    "task_class": "training.tasks.base",
    "unwrap": "training.tasks.base",
    "TaskOptions": "training.tasks.options",
    "register_options": "training.tasks.options",
    "task_kinds": "training.tasks.options",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "AssimilationTask",
    "AutoencoderTask",
    "LatentDiffusionTask",
    "NextStepTask",
    "OperatorTask",
    "PhysicsTask",
    "SurrogateTask",
    "Task",
    "TaskOptions",
    "build_task",
    "register_options",
    "register_task",
    "task_class",
    "task_kinds",
    "unwrap",
]
