"""The readable summaries ``pdeop info`` prints: of a pdeop dataset file, and of a Well file or directory."""

from __future__ import annotations

import json
from pathlib import Path


def _varying_line(name: str, values) -> str:
    if values.dtype == object:
        counts = {v: int((values == v).sum()) for v in dict.fromkeys(values.tolist())}
        text = ", ".join(f"{v} ({c})" for v, c in counts.items())
    else:
        text = f"{values.min():.4g} .. {values.max():.4g}"
    return f"  varying      {name} per sample: {text}"


def dataset_summary(path: Path, captions: int = 2) -> str:
    """The text ``pdeop info`` prints."""
    import pde_data
    from pde_data.loading import scan_values
    from pde_data.storage import file_recipe

    recipe = file_recipe(path)
    ds = pde_data.open(path)
    time = ds["time"].values
    statistics = json.loads(ds.attrs["statistics"])
    parameters = {name: ds.attrs[name] for name in ds.attrs["simulation_parameters"] if name in ds.attrs}
    lengths = ds["length"].values if "length" in ds else None
    lines = [
        f"{path}  ({path.stat().st_size / 2**20:.1f} MiB)",
        f"  dataset      {ds.attrs['dataset_name']} (split {ds.attrs.get('split', '?')}, seed {ds.attrs.get('seed', '?')})",
        f"  equation     {recipe.equation}: {recipe.pde.text}",
        "  parameters   " + ", ".join(f"{k} = {v:g}" for k, v in parameters.items()),
    ]
    for name in recipe.field_names:
        field = ds[name]
        lines.append(f"  field        {name} {tuple(field.shape)} ({', '.join(field.dims)}) {field.dtype}")
    lines.append(
        f"  time         {time.min():.4g} .. {time.max():.4g}, {time.shape[-1]} frames"
        + (" (per-sample times)" if time.ndim == 2 else "")
    )
    if lengths is not None:
        lines.append(f"  length       per sample, {lengths.min():.4g} .. {lengths.max():.4g}")
    lines += [_varying_line(name, ds[name].values) for name in recipe.varying if name in ds]
    for name in recipe.field_names:
        stats = statistics[name]
        lines.append(
            f"  statistics   {name}: mean {_numbers(stats['mean'])}, std {_numbers(stats['std'])}, "
            f"rms {_numbers(stats['rms'])}; frame differences std {_numbers(stats['std_delta'])}"
        )
    for name, problem in scan_values(path).items():
        if problem is not None:
            count, sample, frame = problem
            lines.append(
                f"  WARNING      {name}: {count} non-finite or overflowing values (first at sample {sample}, "
                f"frame {frame}); training on this file stops there"
            )
    lines.append(f"  recipe       {recipe.description}")
    for i in range(min(captions, ds.sizes["sample"])):
        lines.append(f"  caption[{i}]   {ds['caption'].values[i]}")
    return "\n".join(lines)


def _numbers(value) -> str:
    """A statistic of a scalar field (a number) or of a vector field (one per component)."""
    return f"{value:.4g}" if isinstance(value, (int, float)) else "(" + ", ".join(f"{v:.4g}" for v in value) + ")"


def well_summary(path: Path) -> str:
    """The text ``pdeop info`` prints for a Well file or dataset directory (read directly, not converted)."""
    import json

    import h5py

    from pde_data.well import SPLITS, WellFile, well_files

    splits = {split: well_files(path, split) for split in SPLITS if path.is_dir() and _has_split(path, split)}
    files = [path] if path.is_file() else [f for group in splits.values() for f in group]
    info = WellFile.read(files[0])
    ndim, axes = info.ndim, info.axes
    lines = [f"{path}  (The Well's layout, read directly)"]
    if splits:
        lines += [
            f"  split        {split}: {len(group)} file(s), {sum(WellFile.read(f).trajectories for f in group)} "
            "trajectories"
            for split, group in splits.items()
        ]
    else:
        lines.append(f"  trajectories {info.trajectories}")
    grid = " x ".join(
        f"{n} ({a}{', periodic' if periodic else ''})"
        for n, a, periodic in zip(info.grid, axes, info.periodic, strict=True)
    )
    lines += [f"  grid         {grid}", f"  time         {info.steps} steps"]
    for field in info.fields:
        flags = ", ".join(name for name, on in (("time", field.time_varying), ("sample", field.sample_varying)) if on)
        constant_axes = [a for a, varying in zip(axes, field.dim_varying, strict=False) if not varying]
        lines.append(
            f"  field        {field.name} (t{field.order}: {field.components(ndim)} channel(s)"
            f"{'; constant in time' if not field.time_varying else ''}; varies with {flags or 'nothing'}"
            f"{'; constant along ' + ', '.join(constant_axes) if constant_axes else ''})"
        )
    from pde_data.well import WellWindows

    data = WellWindows(path, "train" if path.is_dir() else None)
    stored = data.stored_statistics()
    stats_file = path / "stats.yaml" if path.is_dir() else None
    origin = "stats.yaml" if stats_file is not None and stats_file.is_file() else "stored with the fields"
    lines.append(f"  statistics   {origin if stored else 'computed when needed'}")
    if stored:
        lines += [
            f"    {name:<14} mean {float(m):.4g}, std {float(s):.4g}"
            for name, m, s in zip(data.channel_names, stored["mean"], stored["std"], strict=True)
        ]
    with h5py.File(files[0], "r") as f:
        source = json.loads(f.attrs["pdeop_source"]) if "pdeop_source" in f.attrs else None
    if source is not None:
        lines.append(f"  converted    from {source['format']}: {source['file']} ({source['bytes']:,} bytes)")
        lines += [f"  assumed      {text}" for text in source.get("assumed", [])]
    return "\n".join(lines)


def _has_split(path: Path, split: str) -> bool:
    return any((folder / split).is_dir() for folder in (path / "data", path))
