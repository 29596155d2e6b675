"""Shared by the benchmark scripts: the JSON result file."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(results, path: str | Path) -> Path:
    """Write ``results`` (JSON-able) to ``path``, creating its folder, and say so."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")
    return path
