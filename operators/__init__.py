"""Neural-operator architectures, their registry (``operators.build``) and the ``Surrogate`` prediction API.

May use ``solvers``; never ``pde_data`` or ``training``.

    >>> import operators
    >>> model = operators.build("fno", in_channels=1, out_channels=1, ndim=2, modes=12, width=32)
    >>> surrogate = operators.load("runs/ns")    # the predictor the run's checkpoint holds  # doctest: +SKIP
    >>> future = surrogate.predict(u0, steps=10)                         # doctest: +SKIP
"""

from operators import autoencoder, dit, fno, generator, localno, mgno, observer, sinenet, stagger, unet, vit  # noqa: F401  (each module registers its architecture)
from operators.autoencoder import Autoencoder
from operators.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, tensor_state_dict
from operators.generator import Generator
from operators.observer import Observer
from operators.predictors import load, predictor_kinds, register_predictor
from operators.registry import available, build, hyperparameter_names, parameter_count, register
from operators.surrogate import Surrogate

__all__ = [
    "Autoencoder",
    "CheckpointError",
    "Generator",
    "Observer",
    "Surrogate",
    "available",
    "build",
    "hyperparameter_names",
    "load",
    "load_checkpoint",
    "parameter_count",
    "predictor_kinds",
    "register",
    "register_predictor",
    "save_checkpoint",
    "tensor_state_dict",
]
