"""``python -m training.cli``: the ``pdeop`` command (torchrun launches it this way)."""

import sys

from training.cli import main

sys.exit(main())
