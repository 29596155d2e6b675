"""The shared machinery of every pseudo-spectral solver: validation, time loop, rhs, grid.

An equation is a subclass that states two things (as in exponax): its linear
Fourier symbol ``L`` (``linear_symbol``) and its nonlinear tendency ``N``
(``nonlinear``), for ``u_t = L u + N(u)`` on a periodic box. Everything else,
time stepping (``ETDRKStepper``), batching, output times, divergence checks and
argument checking, lives here once.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import math
from collections.abc import Sequence

import torch

from solvers.capture import CapturedSteps
from solvers.errors import InputError, SolverDivergedError
from solvers.etdrk import ETDRKStepper, phi_contour_means
from solvers.spectral import dealias_mask, fft_axes, spectral_grid, squared_wavenumber

_REAL_TO_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}
#: in long stretches without output times the state is checked this often (steps)
DIVERGENCE_CHECK_INTERVAL = 100
#: on the CPU a batch is stepped in chunks of at most this many bytes of spectral state, so that
#: an ETDRK4 step's dozen intermediate arrays stay in cache: 64 NS states of 64^2 (float32) step
#: about 1.4x faster in chunks of 15 than all at once on one thread (benchmarks/solver_throughput.py)
CACHE_CHUNK_BYTES = 1 << 18
#: recorded step loops a solver keeps (``cuda_graph=True``): one per distinct block length and state
#: shape, the oldest dropped first; each holds its intermediates' GPU memory
MAX_RECORDINGS = 4


def _positive_number(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _per_sample_or_number(name: str, value) -> float | torch.Tensor:
    """A positive number, or a 1D float64 tensor of positive per-sample values."""
    if isinstance(value, (list, tuple, torch.Tensor)):
        tensor = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
        if tensor.dim() != 1 or tensor.numel() == 0:
            raise InputError(f"per-sample {name} must be a non-empty 1D sequence, got shape {tuple(tensor.shape)}")
        if not bool(torch.isfinite(tensor).all()) or bool((tensor <= 0).any()):
            raise InputError(f"every per-sample {name} must be a finite number > 0")
        return tensor
    return _positive_number(name, value)


def per_sample_coefficient(name: str, value) -> float | torch.Tensor:
    """A coefficient that must be finite and >= 0: a number, or a 1D float64 tensor of per-sample values."""
    if isinstance(value, (list, tuple, torch.Tensor)):
        tensor = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
        if tensor.dim() != 1 or tensor.numel() == 0:
            raise InputError(f"per-sample {name} must be a non-empty 1D sequence, got shape {tuple(tensor.shape)}")
        if not bool(torch.isfinite(tensor).all()) or bool((tensor < 0).any()):
            raise InputError(f"every per-sample {name} must be a finite number >= 0")
        return tensor
    return nonnegative_coefficient(name, value)


def nonnegative_coefficient(name: str, value: float) -> float:
    """Check an equation coefficient that must be finite and >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def finite_coefficient(name: str, value: float) -> float:
    """Check an equation coefficient that must be a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@contextlib.contextmanager
def chunk_workers(parts: int, device: torch.device):
    """Where the batch chunks are stepped. On a CPU each chunk runs on one thread (torch's own threads
    set to 1 meanwhile, then restored), the chunks side by side on as many threads as torch had: a
    cache-sized chunk is too small to split each of its FFTs between cores (two threads made a batch
    of 64 KS states of 256 points 2.6x slower than one), while separate chunks keep every core busy.
    torch's thread count is process-wide: other Python threads using torch meanwhile see it at 1."""
    if device.type != "cpu":
        yield _SerialPool()
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if min(parts, threads) <= 1:
            yield _SerialPool()
        else:
            with concurrent.futures.ThreadPoolExecutor(min(parts, threads)) as pool:
                yield pool
    finally:
        torch.set_num_threads(threads)


class _SerialPool:
    @staticmethod
    def map(function, *iterables):
        return map(function, *iterables)


class SpectralSolver:
    """Base class of the periodic pseudo-spectral solvers for ``u_t = L u + N(u)``.

    Args:
        n: grid points per axis (even, >= 4).
        length: side of the periodic box ``[0, length)^d``; or a 1D sequence of
            per-sample sides (then the batch size is fixed to its length).
        dt: time step, in the equation's time units; or a 1D sequence of per-sample
            steps (then ``solve`` takes per-sample times ``(batch, len(times))``).
        order: ETDRK scheme order, 1-4 (default 4, Cox-Matthews ETDRK4).
        dealias: fraction of modes kept in nonlinear products (default 2/3,
            the 2/3 rule); ``None`` or 1.0 disables dealiasing.
        dtype: ``torch.float64`` or ``torch.float32``; default float64 on CPU and
            float32 on CUDA.
        device: where the state lives (default CPU).
        cuda_graph: on a CUDA device, record each stretch of steps between output times (at most
            ``DIVERGENCE_CHECK_INTERVAL``) as a CUDA graph once and replay it (``solvers.capture``),
            so that small grids are not bound by kernel launches; states that require gradients
            step eagerly. Default off.

    Subclasses set ``ndim`` and implement ``linear_symbol`` and
    ``nonlinear_product``; when the nonlinear term is a diagonal Fourier
    multiplier applied to a product, ``N(u) = D * P(u)`` (``D = -i k / 2`` for
    ``-(u^2/2)_x``), ``nonlinear_multiplier`` returns ``D`` and the stepper folds
    it into its coefficients. ``prepare_nonlinear`` precomputes constants.
    """

    ndim: int = 1

    def __init__(
        self,
        n: int,
        length: float,
        dt: float,
        *,
        order: int = 4,
        dealias: float | None = 2.0 / 3.0,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        cuda_graph: bool = False,
    ):
        if isinstance(n, bool) or not isinstance(n, int) or n < 4 or n % 2:
            raise InputError(f"n (grid points per axis) must be an even integer >= 4, got {n!r}")
        if order not in (1, 2, 3, 4) or isinstance(order, bool):
            raise InputError(f"order must be 1, 2, 3 or 4 (ETDRK scheme order), got {order!r}")
        self.n = n
        self.length = _per_sample_or_number("length", length)
        self.dt = _per_sample_or_number("dt", dt)
        per_sample = {"length": self.length, "dt": self.dt, **self.per_sample_values()}
        sizes = {len(v) for v in per_sample.values() if isinstance(v, torch.Tensor)}
        if len(sizes) > 1:
            counts = ", ".join(f"{k} {len(v)}" for k, v in per_sample.items() if isinstance(v, torch.Tensor))
            raise InputError(f"per-sample values must have the same number of entries, got {counts}")
        #: the batch size that per-sample lengths or steps fix, or None
        self.batch_size = sizes.pop() if sizes else None
        self.order = order
        try:
            self.device = torch.device("cpu" if device is None else device)
        except (RuntimeError, TypeError) as error:
            raise InputError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from error
        if not isinstance(cuda_graph, bool):
            raise InputError(f"cuda_graph must be True or False, got {cuda_graph!r}")
        if cuda_graph and self.device.type != "cuda":
            raise InputError(
                f"cuda_graph=True records CUDA graphs and needs a CUDA device; this solver is on {self.device}"
            )
        self.cuda_graph = cuda_graph
        self._recordings: dict[tuple, CapturedSteps] = {}
        if dtype is None:
            dtype = torch.float64 if self.device.type == "cpu" else torch.float32
        if dtype not in _REAL_TO_COMPLEX:
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        self.dtype = dtype
        self.complex_dtype = _REAL_TO_COMPLEX[dtype]
        fraction = 1.0 if dealias is None else _positive_number("dealias", dealias)
        self.dealias = fraction
        self.grid_shape = (n,) * self.ndim
        self.axes = fft_axes(self.ndim)
        # float64 spectral constants on the CPU, for subclasses to build their terms from
        self.wavenumbers = spectral_grid(n, self.length, self.ndim)
        self.derivative_wavenumbers = spectral_grid(n, self.length, self.ndim, zero_nyquist=True)
        self.squared_wavenumber = squared_wavenumber(n, self.length, self.ndim)
        self.mask = dealias_mask(n, self.ndim, fraction)
        self.prepare_nonlinear()
        symbol = self.linear_symbol()
        multiplier = self.nonlinear_multiplier()
        self._linear = symbol.to(device=self.device, dtype=self.complex_dtype)
        self._multiplier = None if multiplier is None else multiplier.to(device=self.device, dtype=self.complex_dtype)
        self.stepper = ETDRKStepper(
            symbol, self.nonlinear_product, self._broadcast(self.dt), order, self.complex_dtype, self.device, multiplier
        )

    # --- what each equation provides -------------------------------------------------
    def linear_symbol(self) -> torch.Tensor:
        """``L`` per Fourier mode, float64 or complex128, shape of the rfftn grid."""
        raise NotImplementedError

    def prepare_nonlinear(self) -> None:
        """Precompute the constants that ``nonlinear_product`` needs (called once)."""

    def per_sample_values(self) -> dict[str, torch.Tensor | float]:
        """The equation's own per-sample values (set before ``__init__`` runs), whose leading size,
        like per-sample ``length`` and ``dt``, fixes the batch size."""
        return {}

    def nonlinear_multiplier(self) -> torch.Tensor | None:
        """Diagonal multiplier ``D`` of ``N(u) = D * P(u)`` (float64/complex128), or None for ``D = 1``."""
        return None

    def nonlinear_product(self, u_hat: torch.Tensor) -> torch.Tensor:
        """``P(u)`` in Fourier space for a spectral state ``(batch, *spectral)``: ``N`` without ``D``."""
        raise NotImplementedError

    def nonlinear(self, u_hat: torch.Tensor) -> torch.Tensor:
        """The nonlinear tendency ``N(u) = D * P(u)`` in Fourier space, ``(batch, *spectral)``."""
        product = self.nonlinear_product(u_hat)
        return product if self._multiplier is None else self._multiplier * product

    # --- helpers for subclasses -------------------------------------------------------
    def _broadcast(self, value: float | torch.Tensor) -> float | torch.Tensor:
        """A per-sample tensor reshaped to ``(batch, 1, ..., 1)`` against spectral arrays."""
        return value.reshape(-1, *(1,) * self.ndim) if isinstance(value, torch.Tensor) else value

    def constant(self, value: torch.Tensor) -> torch.Tensor:
        """Cast a float64/complex128 constant to the working dtype and device, once."""
        dtype = self.complex_dtype if value.is_complex() else self.dtype
        return value.to(device=self.device, dtype=dtype)

    def to_spectral(self, u: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfftn(u, dim=self.axes)

    def to_physical(self, u_hat: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfftn(u_hat, s=self.grid_shape, dim=self.axes)

    # --- public API ------------------------------------------------------------------
    @property
    def coordinates(self) -> tuple[torch.Tensor, ...]:
        """One coordinate tensor ``x_j = j * length / n`` per axis: ``(n,)``, or ``(batch, n)``
        for per-sample lengths."""
        j = torch.arange(self.n, dtype=torch.float64)
        spacing = self.length / self.n
        x = j * spacing[:, None] if isinstance(spacing, torch.Tensor) else j * spacing
        return (x.to(device=self.device, dtype=self.dtype),) * self.ndim

    @property
    def grid(self) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Grid coordinates: ``x`` of shape ``(n,)`` in 1D; ``(x, y)`` each ``(n, n)`` in 2D
        (``indexing="ij"``: axis -2 is x, axis -1 is y); with per-sample lengths each
        gains a leading batch axis."""
        x = self.coordinates[0]
        if self.ndim == 1:
            return x
        if x.dim() == 1:
            return torch.meshgrid(x, x, indexing="ij")
        return x[:, :, None].expand(-1, -1, self.n), x[:, None, :].expand(-1, self.n, -1)

    def check_state(self, u: torch.Tensor, name: str = "u") -> None:
        """Raise a clear error unless ``u`` is a ``(batch, *grid)`` tensor of this solver's dtype and device."""
        if not isinstance(u, torch.Tensor):
            raise TypeError(
                f"{name} must be a torch.Tensor of shape (batch, {self._grid_text()}), got {type(u).__name__}"
            )
        expected = self.grid_shape
        if u.dim() != self.ndim + 1 or tuple(u.shape[1:]) != expected:
            hint = " (add a batch axis with u[None])" if tuple(u.shape) == expected else ""
            raise InputError(
                f"{name} must have shape (batch, {self._grid_text()}) for this {type(self).__name__}, "
                f"got {tuple(u.shape)}{hint}"
            )
        if self.batch_size is not None and u.shape[0] != self.batch_size:
            raise InputError(
                f"{name} has batch size {u.shape[0]} but this solver has per-sample lengths or steps "
                f"for {self.batch_size} samples"
            )
        if u.dtype != self.dtype:
            raise TypeError(
                f"{name} has dtype {u.dtype} but this solver computes in {self.dtype}; "
                f"convert with {name}.to({self.dtype}) or build the solver with dtype={u.dtype}"
            )
        if u.device != self.device and not (u.device.type == self.device.type and self.device.index is None):
            raise InputError(
                f"{name} is on {u.device} but this solver is on {self.device}; move it with {name}.to('{self.device}')"
            )

    def rhs(self, u: torch.Tensor) -> torch.Tensor:
        """The time derivative ``u_t = L u + N(u)`` evaluated spectrally, shape ``(batch, *grid)``."""
        self.check_state(u)
        u_hat = self.to_spectral(u)
        return self.to_physical(self._linear * u_hat + self.nonlinear(u_hat))

    def residual(
        self, u_now: torch.Tensor, u_next: torch.Tensor, dt: float | torch.Tensor, scheme: str = "exponential"
    ) -> torch.Tensor:
        """How far ``u_next`` is from one time step of the PDE after ``u_now``, ``(batch, *grid)``, per time unit.

        Second-order schemes with the nonlinear term at the midpoint ``m = (u_now + u_next) / 2``:

        - ``exponential`` (default): ``(u_next - e^{L dt} u_now - dt phi1(L dt) N(m)) / dt``; the
          linear part is exact, so stiff modes are damped as the PDE damps them;
        - ``crank-nicolson``: ``(u_next - u_now) / dt - L m - N(m)`` (implicit midpoint). It is
          not L-stable: a state whose stiff modes flip sign every step has a small residual,
          which a network trained on this residual alone can exploit.

        Evaluated spectrally (dealiased) in the solver's dtype with autocast off, and
        differentiable in both states (physics-constrained training). ``dt``: a number or
        per-sample ``(batch,)``; states of another floating dtype are converted.
        """
        for name, u in (("u_now", u_now), ("u_next", u_next)):
            if not isinstance(u, torch.Tensor) or not u.is_floating_point() or tuple(u.shape[1:]) != self.grid_shape:
                raise InputError(
                    f"{name} must be a real tensor (batch, {self._grid_text()}), got "
                    f"{tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__}"
                )
        if scheme not in ("exponential", "crank-nicolson"):
            raise InputError(f"scheme must be exponential or crank-nicolson, got {scheme!r}")
        per_sample = isinstance(dt, torch.Tensor) and dt.numel() > 1
        step = self._broadcast(dt.to(self.dtype).reshape(-1).to(self.device)) if per_sample else float(dt)
        with torch.autocast(self.device.type, enabled=False):
            now, following = u_now.to(self.dtype), u_next.to(self.dtype)
            middle = self.to_spectral(0.5 * (now + following))
            if scheme == "crank-nicolson":
                tendency = self.to_physical(self._linear * middle + self.nonlinear(middle))
                return (following - now) / step - tendency
            growth, phi1 = self._exponential_weights(step)
            advanced = self.to_physical(growth * self.to_spectral(now) + step * phi1 * self.nonlinear(middle))
            return (following - advanced) / step

    def _exponential_weights(self, step: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``e^{L dt}`` and ``phi1(L dt)`` in the working dtype (cached for a scalar ``dt``)."""
        cache = self.__dict__.setdefault("_residual_weights", {})
        key = step if isinstance(step, float) else None
        if key is not None and key in cache:
            return cache[key]
        z = self.linear_symbol().to(torch.complex128) * (step if key is not None else step.cpu().to(torch.float64))
        weights = (self.constant(torch.exp(z)), self.constant(phi_contour_means(z)["phi1"]))
        if key is not None:
            cache[key] = weights
        return weights

    def step(self, u: torch.Tensor, steps: int = 1) -> torch.Tensor:
        """Advance a batch ``(batch, *grid)`` by ``steps * dt``; returns the same shape."""
        self.check_state(u)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise InputError(f"steps must be an integer >= 0, got {steps!r}")
        if steps == 0:
            return u
        return self.to_physical(self._advance(self.to_spectral(u), steps, start_step=0))

    def solve(self, u0: torch.Tensor, times: Sequence[float] | torch.Tensor) -> torch.Tensor:
        """States at each of ``times`` starting from ``u0`` at time 0.

        Args:
            u0: initial states ``(batch, *grid)``.
            times: increasing times starting at 0, each a multiple of ``dt``
                (within 1e-6 of a step).

        Returns:
            ``(batch, len(times), *grid)``; entry 0 is ``u0`` itself.

        Raises:
            SolverDivergedError: when a state becomes non-finite.
        """
        self.check_state(u0, "u0")
        step_counts = self.steps_at(times)
        frames = [u0]
        u_hat = self.to_spectral(u0)
        for previous, current in itertools.pairwise(step_counts):
            u_hat = self._advance(u_hat, current - previous, start_step=previous)
            frames.append(self.to_physical(u_hat))
        return torch.stack(frames, dim=1)

    def steps_at(self, times: Sequence[float] | torch.Tensor) -> list[int]:
        """Step indices of ``times``; raises InputError unless they are valid output times.

        ``times`` is 1D, or ``(batch, len(times))`` with per-sample steps; every sample
        must then reach its times in the same numbers of steps.
        """
        try:
            values = torch.as_tensor(times, dtype=torch.float64).detach().cpu()
        except (TypeError, ValueError, RuntimeError) as error:
            raise InputError(f"times must be a 1D sequence of numbers starting at 0, got {times!r}") from error
        per_sample = isinstance(self.dt, torch.Tensor)
        if values.dim() == 1 and per_sample:
            values = values.expand(self.batch_size, -1)
        expected = "(batch, len(times))" if per_sample else "1D"
        if values.dim() != (2 if per_sample else 1) or values.shape[-1] == 0:
            raise InputError(
                f"times must be a non-empty {expected} sequence starting at 0, got shape {tuple(values.shape)}"
            )
        if not bool(torch.isfinite(values).all()):
            raise InputError("times must be finite")
        ratios = values / (self.dt[:, None] if per_sample else self.dt)
        steps = torch.round(ratios)
        if bool((steps[..., 0] != 0).any()) or bool((ratios[..., 0].abs() > 1e-6).any()):
            raise InputError(f"times must start at 0, got times[0] = {values[..., 0].tolist()!r}")
        off = (ratios - steps).abs() > 1e-6 * ratios.abs().clamp(min=1.0)
        if bool(off.any()):
            index = tuple(torch.nonzero(off)[0].tolist())
            raise InputError(
                f"every time must be a multiple of dt; {values[index].item()!r} is {ratios[index].item():.6g} steps"
            )
        if per_sample and bool((steps != steps[:1]).any()):
            raise InputError("with per-sample dt every sample must reach its times in the same numbers of steps")
        counts = [int(c) for c in (steps[0] if per_sample else steps).tolist()]
        if any(b <= a for a, b in itertools.pairwise(counts)):
            raise InputError(f"times must be strictly increasing (in whole steps of dt), got {values.tolist()}")
        return counts

    # --- internals ---------------------------------------------------------------------
    def _advance(self, u_hat: torch.Tensor, steps: int, start_step: int) -> torch.Tensor:
        parts = list(u_hat.split(self.chunk_size(u_hat)))
        done = 0

        grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

        def run(part: torch.Tensor, block: int) -> torch.Tensor:
            # autograd modes are per thread: a worker takes the caller's
            with torch.inference_mode(inference), torch.set_grad_enabled(grad):
                if self.cuda_graph and not part.requires_grad:
                    return self._recording(part, block)(part)
                for _ in range(block):  # each chunk runs a whole block while it is in cache
                    part = self.stepper(part)
            return part

        with chunk_workers(len(parts), u_hat.device) as pool:
            while done < steps:
                block = min(DIVERGENCE_CHECK_INTERVAL, steps - done)
                parts = list(pool.map(run, parts, [block] * len(parts)))
                done += block
                self._check_finite(parts, start_step + done)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _recording(self, u_hat: torch.Tensor, steps: int) -> CapturedSteps:
        """The recorded loop of ``steps`` steps for states like ``u_hat``, recorded on first use."""
        key = (steps, tuple(u_hat.shape), u_hat.dtype, u_hat.device, torch.is_inference_mode_enabled())
        if key not in self._recordings:
            while len(self._recordings) >= MAX_RECORDINGS:
                self._recordings.pop(next(iter(self._recordings)))
            self._recordings[key] = CapturedSteps(self.stepper, u_hat, steps)
        return self._recordings[key]

    def chunk_size(self, u_hat: torch.Tensor) -> int:
        """Samples per chunk (``CACHE_CHUNK_BYTES``); the whole batch on a GPU, or when per-sample
        coefficients tie the stepper to the batch."""
        if u_hat.device.type != "cpu" or self.batch_size is not None or u_hat.shape[0] == 0:
            return max(1, u_hat.shape[0])
        per_sample = u_hat[0].numel() * u_hat.element_size()
        return max(1, CACHE_CHUNK_BYTES // per_sample)

    def _check_finite(self, parts: list[torch.Tensor], step: int) -> None:
        finite = torch.cat([torch.isfinite(torch.view_as_real(p.detach())).flatten(1).all(dim=1) for p in parts])
        if not bool(finite.all()):
            entries = torch.nonzero(~finite).flatten().tolist()
            dt = self.dt[entries[0]].item() if isinstance(self.dt, torch.Tensor) else self.dt
            raise SolverDivergedError(step * dt, entries)

    def _grid_text(self) -> str:
        return ", ".join(str(s) for s in self.grid_shape)

    def __repr__(self) -> str:
        def text(value):
            return f"<{value.numel()} per-sample values>" if isinstance(value, torch.Tensor) else f"{value:g}"

        return (
            f"{type(self).__name__}(n={self.n}, length={text(self.length)}, dt={text(self.dt)}, "
            f"{self._coefficient_text()}order={self.order}, dtype={self.dtype}, device='{self.device}')"
        )

    def _coefficient_text(self) -> str:
        return ""
