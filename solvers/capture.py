"""CUDA-graph capture of a solver's step loop: many time steps replayed with one launch.

An ETDRK4 step is about forty small kernels (FFTs and elementwise products). On a GPU a small
grid finishes each of them in microseconds, so an eager loop spends its time launching kernels
from Python, not computing. ``CapturedSteps`` records ``steps`` consecutive steps once as a CUDA
graph and replays the recording, which launches them all at once from the driver.

The recording reads its input from, and leaves its result in, buffers of its own (a graph
replays fixed addresses): each call copies the state in and the result out.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: eager steps run on a side stream before recording, so that cuFFT plans and the caching
#: allocator's blocks exist before capture (neither may be created while recording)
WARMUP_STEPS = 3


class CapturedSteps:
    """``steps`` applications of ``step`` to a spectral state, recorded once and replayed.

    Args:
        step: one time step, ``(batch, *spectral)`` complex to the same shape; it must only read
            tensors that live as long as this object (the stepper's coefficients).
        example: a state of the shape, dtype and CUDA device every later call will pass.
        steps: time steps per replay (>= 1).

    Calls copy their state in, replay, and return a fresh tensor, so results never alias the
    recording's buffers. Autograd does not see through a replay: use it without gradients.
    """

    def __init__(self, step: Callable[[torch.Tensor], torch.Tensor], example: torch.Tensor, steps: int):
        if example.device.type != "cuda":
            raise ValueError(f"CUDA-graph capture needs a CUDA tensor, got one on {example.device}")
        if steps < 1:
            raise ValueError(f"steps per replay must be >= 1, got {steps}")
        self.steps = steps
        self.shape, self.dtype, self.device = tuple(example.shape), example.dtype, example.device
        self.input = example.detach().clone()
        side = torch.cuda.Stream(device=self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            state = self.input
            for _ in range(WARMUP_STEPS):
                state = step(state)
        torch.cuda.current_stream(self.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            state = self.input
            for _ in range(steps):
                state = step(state)
        self.output = state

    def matches(self, state: torch.Tensor) -> bool:
        """Whether ``state`` has the shape, dtype and device this recording was made for."""
        return (tuple(state.shape), state.dtype, state.device) == (self.shape, self.dtype, self.device)

    def __call__(self, state: torch.Tensor) -> torch.Tensor:
        """``state`` advanced by ``self.steps`` steps (a new tensor)."""
        self.input.copy_(state)
        self.graph.replay()
        return self.output.clone()
