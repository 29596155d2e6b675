"""Solver demo: verify each equation (against an exact solution; Kuramoto-Sivashinsky, which has none,
against the independent 2D solver) and time a batched run.

Run ``python -m solvers.demo [--device cuda] [--plot ks.png]``. Prints one row per
check (equation, what is compared, max error, wall time).
"""

from __future__ import annotations

import argparse
import math
import time

import torch

import solvers
from solvers.analytic import (
    burgers_cole_hopf_sine,
    fno_forcing,
    fno_forcing_steady_state,
    kdv_soliton,
    taylor_green_vorticity,
)


def _timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def verification_rows(device: str = "cpu") -> list[tuple[str, str, float, float]]:
    """(equation, check, max abs error, seconds) for each analytic case, in float64."""
    rows = []
    kdv = solvers.KdV1D(n=256, length=40.0, dt=0.005, device=device)
    x = kdv.grid
    u, seconds = _timed(lambda: kdv.solve(kdv_soliton(x, 0.0, 4.0, 15.0, 40.0)[None], [0.0, 2.0]))
    rows.append(
        ("KdV1D", "soliton c=4 at t=2", float((u[0, -1] - kdv_soliton(x, 2.0, 4.0, 15.0, 40.0)).abs().max()), seconds)
    )
    burgers = solvers.Burgers1D(n=256, length=2 * math.pi, dt=1e-3, nu=0.1, device=device)
    x = burgers.grid
    u, seconds = _timed(lambda: burgers.solve(torch.sin(x)[None], [0.0, 1.0]))
    rows.append(
        (
            "Burgers1D",
            "Cole-Hopf nu=0.1 at t=1",
            float((u[0, -1] - burgers_cole_hopf_sine(x.cpu(), 1.0, 0.1).to(device)).abs().max()),
            seconds,
        )
    )
    ns = solvers.NavierStokes2D(n=64, length=2 * math.pi, dt=0.05, nu=0.01, device=device)
    x, y = ns.grid
    w, seconds = _timed(lambda: ns.solve(taylor_green_vorticity(x, y, 0.0, 0.01, 2 * math.pi)[None], [0.0, 5.0]))
    exact = taylor_green_vorticity(x, y, 5.0, 0.01, 2 * math.pi)
    rows.append(("NavierStokes2D", "Taylor-Green at t=5", float((w[0, -1] - exact).abs().max()), seconds))
    x, y = solvers.NavierStokes2D(n=64, device=device).grid
    forced = solvers.NavierStokes2D(n=64, dt=1e-2, nu=1e-3, forcing=fno_forcing(x, y), device=device)
    steady = fno_forcing_steady_state(x, y, 1e-3)[None]
    w, seconds = _timed(lambda: forced.solve(steady, [0.0, 1.0]))
    rows.append(("NavierStokes2D", "FNO-forcing steady state, t=1", float((w[0, -1] - steady[0]).abs().max()), seconds))
    rows.append(_kuramoto_sivashinsky_row(device))
    return rows


def _kuramoto_sivashinsky_row(device: str) -> tuple[str, str, float, float]:
    """KS has no closed-form solution: check the 1D solver against the independent 2D one.

    For ``u(x)`` constant in ``y``, the 2D gradient form ``u_t + |grad u|^2 / 2 + lap u + lap^2 u = 0``
    reduces to ``u_t + u_x^2 / 2 + u_xx + u_xxxx = 0``, whose x-derivative ``v = u_x`` obeys the 1D
    equation ``v_t + v v_x + v_xx + v_xxxx = 0``.
    """
    n, length = 64, 32 * math.pi
    one = solvers.KuramotoSivashinsky1D(n=n, length=length, dt=0.05, device=device)
    two = solvers.KuramotoSivashinsky2D(n=n, length=length, dt=0.05, device=device)
    x = one.grid
    u0 = torch.cos(x / 16) * (1 + torch.sin(x / 16))
    k = 2 * math.pi / length * torch.fft.rfftfreq(n, d=1.0 / n, dtype=torch.float64).to(device)
    k[-1] = 0.0  # the Nyquist derivative is not representable

    def derivative(u: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(1j * k * torch.fft.rfft(u), n=n)

    v, seconds = _timed(lambda: one.solve(derivative(u0)[None], [0.0, 5.0]))
    u = two.solve(u0[:, None].expand(n, n)[None].contiguous(), [0.0, 5.0])
    error = float((derivative(u[0, -1, :, 0]) - v[0, -1]).abs().max())
    return "KS1D vs KS2D", "d/dx of 2D (x-only) at t=5", error, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--plot", metavar="FILE.png", help="also save a Kuramoto-Sivashinsky space-time diagram")
    args = parser.parse_args(argv)
    print(f"{'equation':<16} {'check':<32} {'max error':>10} {'seconds':>8}")
    for equation, check, error, seconds in verification_rows(args.device):
        print(f"{equation:<16} {check:<32} {error:>10.2e} {seconds:>8.3f}")
    ks = solvers.KuramotoSivashinsky1D(n=256, length=64.0, dt=0.25, dtype=torch.float32, device=args.device)
    generator = torch.Generator().manual_seed(0)
    u0 = 0.1 * torch.randn(64, 256, generator=generator).to(args.device)
    times = torch.arange(0, 101.0, 1.0)
    u, seconds = _timed(lambda: ks.solve(u0, times))
    print(
        f"KS 1D, batch 64, N=256, 400 ETDRK4 steps in float32: {seconds:.2f} s ({64 * 400 / seconds:,.0f} state-steps/s)"
    )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.5))
        image = ax.imshow(u[0].cpu().T, aspect="auto", origin="lower", extent=(0, 100, 0, 64), cmap="RdBu_r")
        fig.colorbar(image, ax=ax, label="u")
        ax.set(xlabel="t", ylabel="x", title="Kuramoto-Sivashinsky, L = 64 (sample 0 of 64)")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
