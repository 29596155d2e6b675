"""Per-sample physical parameters (``Recipe.varying``): what differs between the trajectories of one
dataset, how each sample's values are drawn, the forcing and initial condition they select, and
the captions that say them in words (for text-conditioned generation).

A recipe's ``varying`` maps each varying parameter to its range:

- ``nu``: ``[low, high]``, log-uniform (an equation coefficient the solver takes per sample);
- ``forcing``: names to choose from, uniformly (``equations.FORCINGS``: ``none``, ``fno``, ``kolmogorov``);
- ``forcing_wavenumber``: ``[low, high]`` integers, uniform (Kolmogorov's ``n``, ``k = 2 pi n / L``);
- ``forcing_amplitude``: ``[low, high]``, log-uniform: the amplitude ``A`` of the body force
  (Kolmogorov: ``(A sin(k y), 0)``, vorticity forcing ``-A k cos(k y)``; FNO's: the vorticity
  forcing ``A (sin 2 pi (x + y) + cos 2 pi (x + y))``, ``A = 0.1`` in the FNO paper);
- ``initial_condition``: ``{family: initial-condition spec}``, a family chosen uniformly; the
  family's name is the caption's words for it ("smooth random vortices");
- ``initial_scale``: ``[low, high]``, log-uniform factor on the initial state.

Every sample draws every parameter from its own stream (seeded by the sample's seed, apart from
the initial condition's stream), in a fixed order, so a sample's values do not depend on the
batch or on which other parameters vary, and adding variation does not change the initial noise.
Drawn values are stored per trajectory (``pdeop/parameters``), beside a caption rendered from
them in one of several phrasings.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from pde_data.equations import EQUATIONS, FORCINGS
from pde_data.equations import equation as equation_description
from pde_data.initial_conditions import InitialCondition, make_initial_condition
from solvers.errors import InputError

#: log-uniform numeric ranges; integer ranges; choices
LOG_UNIFORM = ("nu", "forcing_amplitude", "initial_scale")
INTEGER = ("forcing_wavenumber",)
#: parameters that only a forced equation (``Equation.forced``) takes
FORCING_KEYS = ("forcing", "forcing_wavenumber", "forcing_amplitude")
#: every key, in the order samples draw them (fixed: the stream layout)
KEYS = ("nu", "forcing", "forcing_wavenumber", "forcing_amplitude", "initial_condition", "initial_scale")
#: defaults of forcing parameters a recipe does not vary
FORCING_DEFAULTS = {"forcing_wavenumber": 4, "forcing_amplitude": 0.1}


def check_varying(varying: dict, equation: str, coefficients: dict, forcing: str | None) -> None:
    """Raise InputError unless ``varying`` is a valid ``Recipe.varying`` for this equation."""
    unknown = sorted(set(varying) - set(KEYS))
    if unknown:
        raise InputError(f"unknown varying parameters {unknown}; known: {', '.join(KEYS)}")
    description = equation_description(equation)
    if "nu" in varying and "nu" not in description.per_sample_coefficients:
        takers = [key for key, e in EQUATIONS.items() if "nu" in e.per_sample_coefficients]
        raise InputError(f"the {equation} solver does not take a per-sample nu; only {', '.join(takers)} does")
    if any(k in varying for k in FORCING_KEYS) and not description.forced:
        forced = [key for key, e in EQUATIONS.items() if e.forced]
        raise InputError(f"forcing parameters vary only for forced equations ({', '.join(forced)}), not {equation}")
    clash = sorted(set(varying) & set(coefficients))
    if clash:
        raise InputError(f"{clash} are both fixed coefficients and varying; remove them from coefficients")
    if "forcing" in varying and forcing is not None:
        raise InputError("a recipe with varying forcing must leave its fixed forcing unset (None)")
    for key in LOG_UNIFORM + INTEGER:
        if key in varying:
            low_high = varying[key]
            ok = isinstance(low_high, (list, tuple)) and len(low_high) == 2
            ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in low_high)
            if not ok or not 0 < low_high[0] <= low_high[1] or not math.isfinite(low_high[1]):
                raise InputError(f"varying {key} must be [low, high] with 0 < low <= high, got {low_high!r}")
    if "forcing" in varying:
        names = varying["forcing"]
        if not isinstance(names, (list, tuple)) or not names or any(n not in FORCINGS for n in names):
            raise InputError(f"varying forcing must be a list of names from {', '.join(FORCINGS)}, got {names!r}")
    if "initial_condition" in varying:
        families = varying["initial_condition"]
        if not isinstance(families, dict) or not families:
            raise InputError("varying initial_condition must map family names to initial-condition specs")


def parameter_generator(seed: int) -> torch.Generator:
    """The sample's parameter stream: seeded by (seed, 1), apart from its initial-condition stream."""
    state = np.random.SeedSequence([seed, 1]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & ((1 << 63) - 1))


def draw_parameters(varying: dict, seed: int) -> dict:
    """One sample's values of every varying parameter (``{}`` for a recipe that varies nothing),
    plus ``template``, the caption phrasing drawn for it."""
    if not varying:
        return {}
    generator = parameter_generator(seed)
    uniform = torch.rand(len(KEYS) + 1, generator=generator, dtype=torch.float64).tolist()  # one per key, always
    values = {}
    for u, key in zip(uniform, KEYS, strict=False):
        if key not in varying:
            continue
        spec = varying[key]
        if key in LOG_UNIFORM:
            values[key] = math.exp(math.log(spec[0]) + u * (math.log(spec[1]) - math.log(spec[0])))
        elif key in INTEGER:
            values[key] = int(spec[0] + min(int(u * (spec[1] - spec[0] + 1)), spec[1] - spec[0]))
        else:
            names = list(spec)
            values[key] = names[min(int(u * len(names)), len(names) - 1)]
    values["template"] = min(int(uniform[-1] * len(TEMPLATES)), len(TEMPLATES) - 1)
    return values


def initial_conditions(recipe, n: int) -> dict[str, InitialCondition]:
    """The recipe's initial-condition generators on ``n`` points: one per family when it varies,
    else the recipe's own under ``"default"``."""
    families = recipe.varying.get("initial_condition") or {"default": recipe.initial_condition}
    return {name: make_initial_condition(spec, n, recipe.ndim, recipe.length) for name, spec in families.items()}


def forcing_field(name: str | None, x: torch.Tensor, y: torch.Tensor, length: float, parameters: dict) -> torch.Tensor:
    """The vorticity forcing ``name`` on the grid ``(x, y)`` with the sample's wavenumber and amplitude."""
    amplitude, wavenumber = _forcing_settings(parameters)
    return FORCINGS[name or "none"].field(x, y, length, amplitude, wavenumber)


def _forcing_settings(values: dict) -> tuple[float, int]:
    """A sample's forcing amplitude and wavenumber, the defaults where they do not vary."""
    return (
        values.get("forcing_amplitude", FORCING_DEFAULTS["forcing_amplitude"]),
        values.get("forcing_wavenumber", FORCING_DEFAULTS["forcing_wavenumber"]),
    )


# --- captions ----------------------------------------------------------------------------------
def _viscosity_words(nu: float) -> str:
    return "highly viscous" if nu >= 3e-3 else "moderately viscous" if nu >= 1e-3 else "weakly viscous"


def _forcing_phrase(values: dict) -> str:
    return FORCINGS[values.get("forcing", "none")].phrase(*_forcing_settings(values))


def _initial_phrase(values: dict) -> str:
    text = values.get("initial_condition", "a random vorticity field")
    scale = values.get("initial_scale")
    return text if scale is None else f"{text} scaled by {scale:.3g}"


TEMPLATES = (
    "Two-dimensional incompressible flow with viscosity {nu}, {forcing}, starting from {initial}.",
    "Vorticity of a {regime} fluid (nu = {nu}) on a periodic square, {forcing}; the initial state is {initial}.",
    "A Navier-Stokes simulation: viscosity {nu}; {forcing}; initial vorticity {initial}.",
    "Periodic 2D turbulence at viscosity {nu}, {forcing}, initialised with {initial}.",
)


def text_caption(values: dict, fixed_nu: float | None = None) -> str:
    """The caption of one sample's parameters in its drawn phrasing (``values["template"]``)."""
    nu = values.get("nu", fixed_nu)
    return TEMPLATES[values["template"]].format(
        nu=f"{nu:.3g}",
        regime=_viscosity_words(nu),
        forcing=_forcing_phrase(values),
        initial=_initial_phrase(values),
    )


# --- storage columns --------------------------------------------------------------------------
def parameter_names(varying: dict) -> list[str]:
    """The stored per-trajectory columns of a recipe's varying parameters, in draw order."""
    return [key for key in KEYS if key in varying] + (["template"] if varying else [])


def is_text_parameter(name: str) -> bool:
    return name in ("forcing", "initial_condition")


def parameter_columns(varying: dict, values: list[dict]) -> dict[str, np.ndarray]:
    """Each varying parameter's values over a batch of samples: float64, int64 or strings."""
    columns = {}
    for name in parameter_names(varying):
        column = [v[name] for v in values]
        if is_text_parameter(name):
            columns[name] = np.array(column, dtype=object)
        elif name in INTEGER or name == "template":
            columns[name] = np.array(column, dtype=np.int64)
        else:
            columns[name] = np.array(column, dtype=np.float64)
    return columns
