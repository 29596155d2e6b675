"""Scoring what a model predicts: the field's metrics (``metrics``), rollouts against dataset trajectories
and stored predictions, the resolution study (``rollouts``), the assimilation study (``assimilation``),
physical consistency (``physical_consistency``) and the figures they draw (``figures``).

Import from the modules: ``from training.evaluation.rollouts import evaluate_surrogate``.
"""
