"""The solver interface: rhs, batching, precision, autograd, grid, and the errors for bad input."""

from __future__ import annotations

import math

import pytest
import torch

import solvers


def test_rhs_of_burgers_kdv_and_ks_match_hand_derivatives():
    x = solvers.Burgers1D(n=32, length=1.0).grid
    k = 2 * math.pi
    u = torch.sin(k * x)[None]
    burgers = solvers.Burgers1D(n=32, length=1.0, nu=0.3)
    expected = -u * k * torch.cos(k * x) - 0.3 * k**2 * u
    assert torch.allclose(burgers.rhs(u), expected, atol=1e-12)
    kdv = solvers.KdV1D(n=32, length=1.0, alpha=2.0, beta=0.5)
    expected = -2.0 * u * k * torch.cos(k * x) + 0.5 * k**3 * torch.cos(k * x)
    assert torch.allclose(kdv.rhs(u), expected, atol=1e-10)
    ks = solvers.KuramotoSivashinsky1D(n=32, length=1.0)
    expected = -u * k * torch.cos(k * x) + k**2 * u - k**4 * u
    # rounding noise (~1e-16) in every mode is amplified by the highest mode's (2 pi 16)^4 ~ 1e8
    assert torch.allclose(ks.rhs(u), expected, atol=1e-8)


def test_navier_stokes_rhs_and_velocity_match_hand_derivatives():
    nu, mu = 0.01, 0.1
    probe = solvers.NavierStokes2D(n=16)
    x, y = probe.grid
    forcing = torch.cos(2 * math.pi * y)
    solver = solvers.NavierStokes2D(n=16, nu=nu, mu=mu, forcing=forcing)
    w = (torch.sin(2 * math.pi * x) + torch.cos(4 * math.pi * y))[None]
    velocity = solver.velocity(w)
    assert torch.allclose(velocity[0, 0], -torch.sin(4 * math.pi * y) / (4 * math.pi), atol=1e-13)
    assert torch.allclose(velocity[0, 1], -torch.cos(2 * math.pi * x) / (2 * math.pi), atol=1e-13)
    advection = 1.5 * torch.cos(2 * math.pi * x) * torch.sin(4 * math.pi * y)
    laplacian = -4 * math.pi**2 * torch.sin(2 * math.pi * x) - 16 * math.pi**2 * torch.cos(4 * math.pi * y)
    expected = -advection + nu * laplacian - mu * w[0] + forcing
    assert torch.allclose(solver.rhs(w)[0], expected, atol=1e-12)


def test_ks_2d_rhs_matches_hand_derivatives():
    solver = solvers.KuramotoSivashinsky2D(n=16, length=2 * math.pi)
    x, y = solver.grid
    u = torch.sin(x) + torch.cos(2 * y)
    gradient_squared = torch.cos(x) ** 2 + 4 * torch.sin(2 * y) ** 2
    laplacian = -torch.sin(x) - 4 * torch.cos(2 * y)
    bilaplacian = torch.sin(x) + 16 * torch.cos(2 * y)
    expected = -gradient_squared / 2 - laplacian - bilaplacian
    assert torch.allclose(solver.rhs(u[None])[0], expected, atol=1e-11)


def test_grid_points_exclude_the_end_point():
    x = solvers.Burgers1D(n=8, length=2.0).grid
    assert torch.allclose(x, torch.arange(8, dtype=torch.float64) * 0.25)
    gx, gy = solvers.NavierStokes2D(n=8, length=1.0).grid
    assert gx.shape == (8, 8) and torch.equal(gx[:, 0], gy[0, :])
    assert torch.all(gx[1] > gx[0])  # axis -2 is x


@pytest.mark.parametrize(
    "make",
    [
        lambda: solvers.Burgers1D(n=64, nu=0.01, dt=1e-3),
        lambda: solvers.KdV1D(n=64, length=40.0, dt=1e-3),
        lambda: solvers.KuramotoSivashinsky1D(n=64, length=22.0, dt=0.05),
        lambda: solvers.NavierStokes2D(n=16, nu=1e-3, dt=1e-2),
        lambda: solvers.KuramotoSivashinsky2D(n=16, length=20.0, dt=0.05),
    ],
)
def test_batch_entries_evolve_independently(make):
    solver = make()
    u0 = torch.randn(3, *solver.grid_shape, dtype=torch.float64)
    together = solver.step(u0, 20)
    for i in range(3):
        assert torch.allclose(solver.step(u0[i : i + 1], 20)[0], together[i], atol=1e-13)


def test_float32_agrees_with_float64_to_float32_accuracy():
    for cls, kwargs in [
        (solvers.KuramotoSivashinsky1D, dict(n=64, length=22.0, dt=0.05)),
        (solvers.NavierStokes2D, dict(n=32, nu=1e-3, dt=1e-2)),
        (solvers.KdV1D, dict(n=64, length=40.0, dt=1e-3)),
    ]:
        double = cls(dtype=torch.float64, **kwargs)
        single = cls(dtype=torch.float32, **kwargs)
        u0 = torch.randn(2, *double.grid_shape, dtype=torch.float64)
        u0 = double.step(u0, 5)  # smooth it
        reference = double.step(u0, 40)
        result = single.step(u0.float(), 40)
        assert result.dtype == torch.float32
        assert float((result.double() - reference).norm() / reference.norm()) < 1e-5, cls.__name__


def test_gradients_flow_through_solve():
    solver = solvers.Burgers1D(n=8, length=1.0, dt=0.01, nu=0.1)
    u0 = (0.3 * torch.randn(2, 8, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda u: solver.solve(u, [0.0, 0.02, 0.05])[:, 1:], (u0,))
    ns = solvers.NavierStokes2D(n=8, dt=0.01, nu=0.01)
    w0 = torch.randn(1, 8, 8, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda w: ns.step(w, 2), (w0,))


def test_solve_returns_the_initial_state_first_and_matches_step():
    solver = solvers.KuramotoSivashinsky1D(n=32, length=22.0, dt=0.1)
    u0 = torch.randn(2, 32, dtype=torch.float64)
    out = solver.solve(u0, torch.tensor([0.0, 0.3, 1.0]))
    assert out.shape == (2, 3, 32)
    assert torch.equal(out[:, 0], u0)
    assert torch.allclose(out[:, 2], solver.step(u0, 10), atol=1e-12)


def test_step_zero_returns_the_input():
    solver = solvers.Burgers1D(n=16)
    u0 = torch.randn(1, 16, dtype=torch.float64)
    assert solver.step(u0, 0) is u0


def test_divergence_names_time_and_batch_entries():
    solver = solvers.Burgers1D(n=16, dt=0.01)
    u0 = torch.zeros(3, 16, dtype=torch.float64)
    u0[1, 3] = float("nan")
    with pytest.raises(solvers.SolverDivergedError, match=r"batch entries \[1\]") as info:
        solver.solve(u0, [0.0, 0.05])
    assert info.value.batch_indices == [1] and info.value.time == pytest.approx(0.05)


def test_cache_sized_chunks_step_like_the_whole_batch_and_name_global_entries(monkeypatch):
    """On the CPU a batch is stepped in chunks that fit in cache; the states are those of one batched
    step, and a divergence names its entries in the whole batch."""
    import solvers.base

    solver = solvers.NavierStokes2D(n=16, dt=1e-2, nu=1e-2, dtype=torch.float64)
    u0 = torch.randn(7, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    whole = solver.step(u0, 30)
    per_sample = 16 * 9 * 16  # complex128 spectral bytes of one 16^2 state
    monkeypatch.setattr(solvers.base, "CACHE_CHUNK_BYTES", 2 * per_sample)
    assert solver.chunk_size(solver.to_spectral(u0)) == 2
    torch.testing.assert_close(solver.step(u0, 30), whole, rtol=1e-12, atol=1e-12)
    # chunks run on worker threads, which take the caller's autograd mode
    wanted = u0.clone().requires_grad_()
    with torch.no_grad():
        assert not solver.step(wanted, 2).requires_grad
    (chunked,) = torch.autograd.grad(solver.step(wanted, 2).square().sum(), wanted)
    monkeypatch.setattr(solvers.base, "CACHE_CHUNK_BYTES", 1 << 40)
    (whole_batch,) = torch.autograd.grad(solver.step(wanted, 2).square().sum(), wanted)
    torch.testing.assert_close(chunked, whole_batch, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(solvers.base, "CACHE_CHUNK_BYTES", 2 * per_sample)
    u0[[1, 4, 6], 3, 3] = float("nan")
    with pytest.raises(solvers.SolverDivergedError) as info:
        solver.step(u0, 30)
    assert info.value.batch_indices == [1, 4, 6]


def test_a_real_blow_up_is_reported():
    # inviscid Burgers with an explicit-size step on a steep wave blows up
    solver = solvers.Burgers1D(n=32, nu=0.0, dt=0.5, order=1)
    u0 = 50 * torch.sin(2 * math.pi * solver.grid)[None]
    with pytest.raises(solvers.SolverDivergedError):
        solver.step(u0, 300)


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: solvers.Burgers1D(n=31), ValueError, "even integer >= 4"),
        (lambda: solvers.Burgers1D(n=2), ValueError, "even integer >= 4"),
        (lambda: solvers.Burgers1D(n=16.0), ValueError, "even integer >= 4"),
        (lambda: solvers.Burgers1D(dt=0.0), ValueError, "dt must be a finite number > 0"),
        (lambda: solvers.Burgers1D(dt=float("nan")), ValueError, "dt must be"),
        (lambda: solvers.Burgers1D(length=-1.0), ValueError, "length must be"),
        (lambda: solvers.Burgers1D(nu=-0.1), ValueError, "nu must be a finite number >= 0"),
        (lambda: solvers.KdV1D(alpha=float("inf")), ValueError, "alpha must be a finite number"),
        (lambda: solvers.Burgers1D(dtype=torch.float16), TypeError, "float32 or torch.float64"),
        (lambda: solvers.Burgers1D(device="gpu"), ValueError, "device must be"),
        (lambda: solvers.Burgers1D(order=5), ValueError, "order must be 1, 2, 3 or 4"),
        (lambda: solvers.Burgers1D(dealias=0.0), ValueError, "dealias"),
        (lambda: solvers.NavierStokes2D(n=8, forcing=torch.zeros(4, 4)), ValueError, r"forcing must be an \(8, 8\)"),
        (lambda: solvers.Burgers1D(cuda_graph=True), ValueError, "needs a CUDA device; this solver is on cpu"),
        (lambda: solvers.Burgers1D(cuda_graph="yes"), ValueError, "cuda_graph must be True or False"),
    ],
)
def test_bad_construction_arguments_raise_clear_errors(build, error, message):
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s.step(torch.zeros(16, dtype=torch.float64)), ValueError, r"add a batch axis"),
        (lambda s: s.step(torch.zeros(2, 8, dtype=torch.float64)), ValueError, r"shape \(batch, 16\)"),
        (lambda s: s.step(torch.zeros(2, 16, dtype=torch.float32)), TypeError, "dtype torch.float32"),
        (lambda s: s.step([0.0] * 16), TypeError, "must be a torch.Tensor"),
        (lambda s: s.step(torch.zeros(1, 16, dtype=torch.float64), -1), ValueError, "steps must be"),
        (lambda s: s.solve(torch.zeros(1, 16, dtype=torch.float64), [0.1, 0.2]), ValueError, "start at 0"),
        (lambda s: s.solve(torch.zeros(1, 16, dtype=torch.float64), [0.0, 0.015]), ValueError, "multiple of dt"),
        (lambda s: s.solve(torch.zeros(1, 16, dtype=torch.float64), [0.0, 0.02, 0.01]), ValueError, "increasing"),
        (lambda s: s.solve(torch.zeros(1, 16, dtype=torch.float64), []), ValueError, "non-empty"),
    ],
)
def test_bad_call_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(solvers.Burgers1D(n=16, dt=0.01))


def test_repr_names_the_configuration():
    text = repr(solvers.NavierStokes2D(n=16, nu=1e-4))
    assert "NavierStokes2D(n=16" in text and "nu=0.0001" in text


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (solvers.KuramotoSivashinsky1D, {}),
        (solvers.KdV1D, dict(alpha=1.0)),
        (solvers.NavierStokes2D, dict(nu=1e-2)),
        (solvers.KuramotoSivashinsky2D, {}),
    ],
)
def test_per_sample_lengths_and_steps_match_separate_solvers(cls, kwargs):
    n = 16 if cls.ndim == 2 else 32
    lengths, dts = [20.0, 24.0], [0.05, 0.04]
    together = cls(n=n, length=lengths, dt=dts, **kwargs)
    first_axis = together.grid[0] if cls.ndim == 2 else together.grid
    assert together.batch_size == 2 and first_axis.shape == (2, *(n,) * cls.ndim)
    u0 = torch.randn(2, *(n,) * cls.ndim, dtype=torch.float64)
    u0 = torch.fft.irfftn(torch.fft.rfftn(u0, dim=tuple(range(-cls.ndim, 0))) * together.mask, s=(n,) * cls.ndim)
    times = torch.tensor([[0.0, 0.25, 0.5], [0.0, 0.2, 0.4]])
    result = together.solve(u0, times)
    for i in range(2):
        alone = cls(n=n, length=lengths[i], dt=dts[i], **kwargs)
        assert torch.allclose(result[i], alone.solve(u0[i : i + 1], times[i])[0], atol=1e-12)
        assert torch.allclose(together.rhs(u0)[i], alone.rhs(u0[i : i + 1])[0], atol=1e-12)


def test_per_sample_arguments_are_checked():
    with pytest.raises(ValueError, match="same number of entries"):
        solvers.Burgers1D(n=16, length=[1.0, 2.0], dt=[0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match="every per-sample length must be a finite number > 0"):
        solvers.Burgers1D(n=16, length=[1.0, -2.0])
    solver = solvers.Burgers1D(n=16, length=[1.0, 2.0], dt=[0.1, 0.2])
    with pytest.raises(ValueError, match="per-sample lengths or steps for 2 samples"):
        solver.step(torch.zeros(3, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match="same numbers of steps"):
        solver.solve(torch.zeros(2, 16, dtype=torch.float64), [0.0, 0.4])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(
    "make",
    [lambda **o: solvers.KuramotoSivashinsky1D(n=64, **o), lambda **o: solvers.NavierStokes2D(n=32, dt=1e-2, **o)],
)
def test_cuda_graph_replays_the_eager_steps(make):
    """Recorded step loops give the eager states: over output times 7 steps apart, a stretch of a
    different length, and a second shape (each its own recording); gradients still step eagerly."""
    eager, recorded = (
        make(device="cuda", dtype=torch.float64),
        make(device="cuda", dtype=torch.float64, cuda_graph=True),
    )
    u0 = torch.randn(3, *eager.grid_shape, dtype=torch.float64, device="cuda")
    u0 = eager.to_physical(eager.to_spectral(u0) * eager.mask.to(device="cuda"))
    times = [eager.dt * k for k in (0, 7, 14, 21, 26)]
    with torch.no_grad():
        assert torch.allclose(recorded.solve(u0, times), eager.solve(u0, times), atol=1e-10)
        assert torch.allclose(recorded.step(u0[:2], 5), eager.step(u0[:2], 5), atol=1e-10)
    assert len(recorded._recordings) == 3  # 7 and 5 steps of 3 states, 5 steps of 2
    start = u0.clone().requires_grad_()
    recorded.step(start, 3).sum().backward()
    assert start.grad is not None and bool(torch.isfinite(start.grad).all())
