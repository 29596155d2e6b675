"""NeuralStagger (Huang, Shi, Meng et al., ICML 2023): a fine solver split into parallel coarse sub-solvers.

The fine state on ``N`` points per axis is cut into ``s^d`` staggered sub-grids
(sub-grid ``(i, j)`` is ``u[..., i::s, j::s]``: ``pixel_unshuffle``), and one call
produces ``s_t`` interleaved future time levels; each (sub-grid, time level)
pair is one coarse sub-task on ``N / s`` points. The sub-solvers run as one
batched call and their outputs are reassembled exactly (``pixel_shuffle``) into
``s_t`` fine states. No public code exists; our choices, each an option:

- ``weights="shared"`` (default): one inner network for all sub-tasks, told which
  one it is by embedding channels (the sub-grid's offsets ``i/s, j/s`` and the time
  level ``k/s_t``), run on the sub-tasks stacked along the batch axis;
  ``"separate"``: one network per sub-task, their parameters stacked and the calls
  vectorised with ``torch.func.vmap`` (still one call, no Python loop); for inner
  models vmap can trace (the convolutional ones: neuraloperator's FNO writes in
  place and is refused with a clear error).
- ``view="all"`` (default): every sub-solver sees all sub-grids (``C * s^d`` input
  channels): a sub-grid alone is an aliased sample of the field, and the
  neighbouring sub-grids carry the fine-scale information its next state depends
  on; the cost is only a wider first layer. ``"own"``: each sees its own sub-grid.
- ``centred=True`` (with ``view="all"``): each sub-task sees the sub-grids in its own
  frame, the fine field rolled so that its sub-grid comes first, so that with shared
  weights every sub-task solves the same translation-equivariant problem (predict the
  first sub-grid) and the embedding only has to say where it sits (for position-dependent
  terms such as a fixed forcing). ``False`` (default, as the wrapper was first built, so
  that earlier checkpoints load unchanged): one fixed frame, where one shared network
  must produce different sub-grids from the same input, told apart by the embedding.
- ``positions``: what the embedding says of a sub-task's place. ``"offsets"`` (default,
  as first built): its sub-grid's offsets ``i/s, j/s`` as constant channels;
  ``"coordinates"``: the periodic coordinates ``sin, cos(2 pi x / L)`` of its own points
  per axis, so that a position-dependent term (the FNO data's fixed forcing) is
  where the sub-task's points are, without the network combining grid and offset.
  The time level ``k / s_t`` is a constant channel either way. The bench's setup and
  the ablation that chose it: ``training.bench``, ``benchmarks/ablation.py``.
- With ``s = 1, s_t = 1`` the wrapper is its inner model (no embedding channels).

Multi-resolution use: with ``view="own"`` and shared weights a sub-solver is a
coarse solver in its own right: ``coarse_step(u)`` runs it on a field of
``N / s`` points (time level 0, sub-grid 0). With ``view="all"`` a sub-solver
needs every sub-grid, so only the full fine grid is supported.

Output: ``(batch, s_t * C_out, *grid)``, the ``s_t`` next states in time order
(the trainer's ``data.horizon = s_t``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from operators.models.fno import SMALL_FNO
from operators.registry import BenchSetup, build_nested, register
from solvers.errors import InputError

WEIGHTS = ("shared", "separate")
VIEWS = ("all", "own")
POSITIONS = ("offsets", "coordinates")


def unshuffle(x: torch.Tensor, s: int, ndim: int) -> torch.Tensor:
    """``(batch, C, *grid)`` -> ``(batch, C * s^d, *grid / s)``; channel ``c * s^d + g``, ``g`` the sub-grid
    (``g = i`` in 1D, ``i * s + j`` in 2D, for sub-grid ``u[..., i::s, j::s]``)."""
    if s == 1:
        return x
    if ndim == 2:
        return torch.nn.functional.pixel_unshuffle(x, s)
    batch, channels, n = x.shape
    return x.reshape(batch, channels, n // s, s).permute(0, 1, 3, 2).reshape(batch, channels * s, n // s)


def shuffle(x: torch.Tensor, s: int, ndim: int) -> torch.Tensor:
    """The exact inverse of ``unshuffle``."""
    if s == 1:
        return x
    if ndim == 2:
        return torch.nn.functional.pixel_shuffle(x, s)
    batch, channels, n = x.shape
    return x.reshape(batch, channels // s, s, n).permute(0, 1, 3, 2).reshape(batch, channels // s, n * s)


class Stagger(nn.Module):
    """See the module docstring."""

    def __init__(
        self,
        make_inner,
        in_channels: int,
        out_channels: int,
        ndim: int,
        space: int,
        time: int,
        weights: str,
        view: str,
        centred: bool = False,
        positions: str = "offsets",
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.ndim = in_channels, out_channels, ndim
        self.space, self.time, self.weights, self.view = space, time, weights, view
        self.centred, self.positions = centred and view == "all" and space > 1, positions
        self.subgrids = space**ndim
        self.tasks = self.subgrids * time
        per_axis = 2 if positions == "coordinates" else 1
        self.embedding = per_axis * ndim + 1 if self.tasks > 1 and weights == "shared" else 0
        view_channels = in_channels * (self.subgrids if view == "all" else 1)
        inner_in = view_channels + self.embedding
        if weights == "shared":
            self.inner = make_inner(inner_in, out_channels)
        else:
            networks = [make_inner(inner_in, out_channels) for _ in range(self.tasks)]
            params, buffers = stack_module_state(networks)
            self.stacked = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(v) for k, v in params.items()})
            for name, value in buffers.items():
                self.register_buffer("buffer__" + name.replace(".", "__"), value)
            self._template = [networks[0].to("meta")]  # in a list: not a submodule, holds no weights

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 2 + self.ndim or x.shape[1] != self.in_channels:
            raise InputError(
                f"expected (batch, {self.in_channels}, *grid) with {self.ndim} grid axes, got {tuple(x.shape)}"
            )
        bad = [n for n in x.shape[2:] if n % self.space]
        if bad:
            raise InputError(f"grid sizes {tuple(x.shape[2:])} must be divisible by the spatial factor {self.space}")

    def _offsets(self, subgrid: int) -> list[int]:
        """Sub-grid ``subgrid``'s offsets in fine points, one per axis in grid order (``u[..., i::s, j::s]``)."""
        return [(subgrid // self.space**axis) % self.space for axis in reversed(range(self.ndim))]

    def _task_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``(tasks, batch, inner_in, *coarse)``: each sub-task's input, embedding appended."""
        sub = unshuffle(x, self.space, self.ndim)  # (B, C * G, *coarse)
        batch, coarse = x.shape[0], sub.shape[2:]
        if self.centred:  # sub-grid g's frame: the fine field rolled so that g's points come first
            dims = tuple(range(2, 2 + self.ndim))
            views = torch.stack(
                [
                    unshuffle(torch.roll(x, [-o for o in self._offsets(g)], dims), self.space, self.ndim)
                    for g in range(self.subgrids)
                ]
            )
        elif self.view == "all":
            views = sub[None].expand(self.subgrids, *sub.shape)
        else:
            views = sub.reshape(batch, self.in_channels, self.subgrids, *coarse).movedim(2, 0)
        views = views.repeat(self.time, *(1,) * (views.dim() - 1))  # task index = level * G + subgrid
        if not self.embedding:
            return views
        codes = torch.stack([self._embedding(task, tuple(coarse), x) for task in range(self.tasks)])
        return torch.cat([views, codes[:, None].expand(self.tasks, batch, *codes.shape[1:])], dim=2)

    def _embedding(self, task: int, coarse: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """``(embedding, *coarse)``: where sub-task ``task`` sits (see ``positions``) and its time level."""
        level, subgrid = divmod(task, self.subgrids)
        channels = []
        for axis, (offset, n) in enumerate(zip(self._offsets(subgrid), coarse, strict=True)):
            if self.positions == "coordinates":  # the sub-grid's own points, in periods of the domain
                phase = 2 * torch.pi * (torch.arange(n, dtype=like.dtype, device=like.device) * self.space + offset)
                phase = phase / (n * self.space)
                shape = [1] * self.ndim
                shape[axis] = n
                channels += [torch.sin(phase).reshape(shape), torch.cos(phase).reshape(shape)]
            else:
                channels.append(torch.full((1,) * self.ndim, offset / self.space, dtype=like.dtype, device=like.device))
        channels.append(torch.full((1,) * self.ndim, level / self.time, dtype=like.dtype, device=like.device))
        return torch.stack([c.expand(coarse) for c in channels])

    def _run(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(tasks, batch, inner_in, *coarse)`` -> ``(tasks, batch, C_out, *coarse)`` in one batched call."""
        if self.weights == "shared":
            flat = self.inner(inputs.reshape(-1, *inputs.shape[2:]))
            return flat.reshape(self.tasks, inputs.shape[1], *flat.shape[1:])
        params = {k.replace("__", "."): v for k, v in self.stacked.items()}
        buffers = {k[len("buffer__") :].replace("__", "."): v for k, v in self._stacked_buffers().items()}
        template = self._template[0]

        def one(p, b, x):
            return functional_call(template, (p, b), (x,))

        return vmap(one)(params, buffers, inputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        outputs = self._run(self._task_inputs(x))  # (T * G, B, C_out, *coarse)
        batch, coarse = x.shape[0], outputs.shape[3:]
        levels = outputs.reshape(self.time, self.subgrids, batch, self.out_channels, *coarse)
        levels = levels.permute(2, 0, 3, 1, *range(4, 4 + self.ndim))  # (B, T, C_out, G, *coarse)
        fine = shuffle(
            levels.reshape(batch * self.time, self.out_channels * self.subgrids, *coarse), self.space, self.ndim
        )
        return fine.reshape(batch, self.time * self.out_channels, *fine.shape[2:])

    def subtask(self, x: torch.Tensor, task: int) -> torch.Tensor:
        """What one of the ``s^d * s_t`` parallel workers computes: sub-task ``task = level * s^d + subgrid``
        on the fine state ``x`` ``(batch, C_in, *grid)``, giving ``(batch, C_out, *grid / s)``, sub-grid
        ``subgrid`` of time level ``level`` (its latency is the model's under perfect parallelism)."""
        self._check(x)
        if isinstance(task, bool) or not isinstance(task, int) or not 0 <= task < self.tasks:
            raise InputError(f"task must be an integer in [0, {self.tasks}), got {task!r}")
        inputs = self._task_inputs(x)[task]
        if self.weights == "shared":
            return self.inner(inputs)
        params = {k.replace("__", "."): v[task] for k, v in self.stacked.items()}
        buffers = {k[len("buffer__") :].replace("__", "."): v[task] for k, v in self._stacked_buffers().items()}
        return functional_call(self._template[0], (params, buffers), (inputs,))

    def _stacked_buffers(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.named_buffers() if k.startswith("buffer__")}

    def coarse_step(self, u: torch.Tensor) -> torch.Tensor:
        """A sub-solver alone on a coarse field ``(batch, C_in, *grid / s)`` (``view="own"``, shared weights)."""
        if self.view != "own" or self.weights != "shared":
            raise InputError("coarse_step needs view='own' and weights='shared' (a sub-solver that sees one sub-grid)")
        if not self.embedding:
            return self.inner(u)
        code = self._embedding(0, tuple(u.shape[2:]), u)  # sub-grid 0 of time level 0
        return self.inner(torch.cat([u, code[None].expand(u.shape[0], *code.shape)], dim=1))


# each sub-task in its own sub-grid's frame, told where its points are (centred, positions): the ablation
# in benchmarks/stagger.py
@register(
    "stagger",
    bench=BenchSetup(
        small={
            "inner": {"name": "fno", "hyperparameters": SMALL_FNO},
            "space": 2,
            "centred": True,
            "positions": "coordinates",
        },
        width_key=None,
    ),
)
def build_stagger(
    in_channels: int,
    out_channels: int,
    ndim: int,
    inner: dict | None = None,
    space: int = 2,
    time: int = 1,
    weights: str = "shared",
    view: str = "all",
    grid_size: int | None = None,
    centred: bool = False,
    positions: str = "offsets",
) -> nn.Module:
    """NeuralStagger around a registered model (see the module docstring).

    Args:
        inner: the sub-solver as ``{name, hyperparameters}`` (default an FNO of 8 modes, width 32).
        space: ``s``, sub-grids per axis (grid sizes must be divisible by it).
        time: ``s_t``, interleaved time levels per call; ``out_channels`` must be ``s_t`` times the
            channels of one state (the next-step task's ``data.horizon = s_t`` gives that).
        weights: ``shared`` or ``separate``. view: ``all`` or ``own``.
        centred: with ``view="all"``, each sub-task sees the field in its own sub-grid's frame.
        positions: ``offsets`` or ``coordinates`` (the sub-task's points' periodic coordinates).
        grid_size: the fine grid's points per axis (the inner model gets ``grid_size / s``).
    """
    for name, value, allowed in (
        ("weights", weights, WEIGHTS),
        ("view", view, VIEWS),
        ("positions", positions, POSITIONS),
    ):
        if value not in allowed:
            raise InputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    if out_channels % time:
        raise InputError(f"out_channels ({out_channels}) must be time ({time}) times the channels of one state")
    if grid_size is not None and grid_size % space:
        raise InputError(f"the grid ({grid_size}) must be divisible by space = {space}")
    spec = inner or {"name": "fno", "hyperparameters": {"modes": 8, "width": 32}}
    coarse = None if grid_size is None else grid_size // space

    def make_inner(c_in: int, c_out: int) -> nn.Module:
        return build_nested(spec, c_in, c_out, "stagger", ndim=ndim, grid_size=coarse)

    model = Stagger(make_inner, in_channels, out_channels // time, ndim, space, time, weights, view, centred, positions)
    if weights == "separate":  # vmap cannot trace every model: find out now, not mid-training
        probe = torch.zeros(1, in_channels, *(grid_size or 8 * space,) * ndim)
        try:
            with torch.no_grad():
                model(probe)
        except RuntimeError as error:
            if "vmap" not in str(error):
                raise
            raise InputError(
                f"weights='separate' runs the sub-solvers as one torch.func.vmap call, which {spec['name']} does "
                "not support (neuraloperator's spectral layers write in place); use weights='shared', or a "
                "convolutional inner model (unet, mgno, sinenet)"
            ) from None
    return model
