"""Training: the shared trainer, objectives, metrics and the ``pdeop`` command line."""
