"""Errors shared by every pdeop layer: the user-input error type, and the solvers' divergence error.

``InputError`` marks a mistake in what the user asked for (a bad argument, file,
config value or checkpoint). The ``pdeop`` command line prints it as one line and
exits non-zero; every other exception is a bug or an environment failure and keeps
its traceback. It lives in the lowest layer so that every layer can raise it.
"""

from __future__ import annotations

from collections.abc import Sequence


class InputError(ValueError):
    """Bad user input: the message says what was wrong and what is allowed (one line)."""


class MissingFileError(InputError, FileNotFoundError):
    """A file or folder the user named does not exist (or is not what was asked for)."""


class SolverDivergedError(RuntimeError):
    """A solution became non-finite (NaN or infinity).

    Attributes:
        time: the simulation time (in the equation's time units) at which the
            non-finite state was detected.
        batch_indices: the batch entries whose state is non-finite.
    """

    def __init__(self, time: float, batch_indices: Sequence[int]):
        self.time = float(time)
        self.batch_indices = [int(i) for i in batch_indices]
        shown = ", ".join(str(i) for i in self.batch_indices[:20])
        more = "" if len(self.batch_indices) <= 20 else f", ... ({len(self.batch_indices)} in all)"
        super().__init__(
            f"solution became non-finite at t = {self.time:g} in batch entries [{shown}{more}]; "
            "reduce dt, raise the resolution or the viscosity, or check the initial condition"
        )
