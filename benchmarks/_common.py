"""Shared by the benchmark scripts: a clean import path and the JSON result file.

Importing this module removes the ``benchmarks`` folder from ``sys.path``: the
script ``benchmarks/solvers.py`` would otherwise shadow the ``solvers`` package
for every script run from this folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def write_json(results, path: str | Path) -> Path:
    """Write ``results`` (JSON-able) to ``path``, creating its folder, and say so."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")
    return path
