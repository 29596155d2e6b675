"""Neural-operator architectures (``models/``), their building blocks (``layers/``), the registry
(``operators.build``) and the prediction API (``predictors/``: ``Surrogate``, ``load``).

May use ``solvers``; never ``pde_data`` or ``training``.

    >>> import operators
    >>> model = operators.build("fno", in_channels=1, out_channels=1, ndim=2, modes=12, width=32)
    >>> surrogate = operators.load("runs/ns")    # the predictor the run's checkpoint holds  # doctest: +SKIP
    >>> future = surrogate.predict(u0, steps=10)                         # doctest: +SKIP
"""

from operators import models  # noqa: F401  (importing the package registers every architecture)
from operators.predictors import (
    Autoencoder,
    CheckpointError,
    Forecaster,
    Generator,
    Observer,
    Surrogate,
    as_forecaster,
    load,
    load_checkpoint,
    predictor_kinds,
    register_predictor,
    save_checkpoint,
    tensor_state_dict,
)
from operators.registry import (
    BenchSetup,
    available,
    bench_setup,
    build,
    hyperparameter_names,
    parameter_count,
    register,
)

__all__ = [
    "Autoencoder",
    "BenchSetup",
    "CheckpointError",
    "Forecaster",
    "Generator",
    "Observer",
    "Surrogate",
    "as_forecaster",
    "available",
    "bench_setup",
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
