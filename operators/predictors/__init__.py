"""The user-facing objects a checkpoint turns into: ``Surrogate`` (``predict``), ``Observer`` (``assimilate``
and ``predict``), ``Generator`` (``sample``) and ``Autoencoder`` (``encode``, ``decode``); the safe
checkpoint format (``checkpoint``), the ``Forecaster`` protocol they share (``forecaster``) and ``load``, which picks the predictor by the checkpoint's ``kind``
(``registry``)."""

from operators.predictors.autoencoder import Autoencoder
from operators.predictors.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, tensor_state_dict
from operators.predictors.forecaster import Forecaster, as_forecaster
from operators.predictors.generator import Generator
from operators.predictors.observer import Observer
from operators.predictors.registry import load, predictor_kinds, register_predictor
from operators.predictors.surrogate import Surrogate

__all__ = [
    "Autoencoder",
    "CheckpointError",
    "Forecaster",
    "Generator",
    "Observer",
    "Surrogate",
    "as_forecaster",
    "load",
    "load_checkpoint",
    "predictor_kinds",
    "register_predictor",
    "save_checkpoint",
    "tensor_state_dict",
]
