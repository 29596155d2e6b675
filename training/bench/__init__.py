"""``pdeop bench``: every chosen model on one suite's data and budget, scored into one leaderboard.

``suites`` (the problems, the tiers' sizes, which models can be benched), ``runner`` (``Bench``: train,
score and time each model), ``ladder`` (the solver ladder: the suite's solver at coarser grids and
larger steps, for the speed-up at equal accuracy) and ``leaderboard`` (the table and figures).
"""

from training.bench import leaderboard
from training.bench.runner import (
    INFERENCE_BATCH,
    Bench,
    matched_width,
    score_external,
    scores,
    training_seconds,
)
from training.bench.suites import BUDGETS, SUITES, TIERS, benchable, setup_of, suite_recipe

__all__ = [
    "BUDGETS",
    "INFERENCE_BATCH",
    "SUITES",
    "TIERS",
    "Bench",
    "benchable",
    "leaderboard",
    "matched_width",
    "score_external",
    "scores",
    "setup_of",
    "suite_recipe",
    "training_seconds",
]
