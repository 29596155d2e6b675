"""Errors raised by the spectral solvers."""

from __future__ import annotations

from collections.abc import Sequence


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
