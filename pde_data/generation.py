"""Dataset generation: batched solves streamed to disk, resumable, shardable.

``generate(recipe, path, n_samples, seed=0, ...)`` solves trajectories in chunks
of ``batch_size`` samples and writes each finished chunk atomically to
``PATH.parts/``; when all chunks exist they are assembled into one HDF5 file in
The Well's layout (``pde_data.storage``) that is renamed into place. A run
killed at any moment (even ``kill -9``) resumes with ``resume=True``, keeping
every finished chunk; the result has exactly the bytes of an uninterrupted run.

Every random draw of sample ``i`` comes from its own generator seeded by
``(seed, split, i)``, so a sample does not depend on the batch size, the shard
or the device it was drawn on. Shard ``I`` of ``K`` solves a contiguous range of
chunks, the same chunks a single run would solve with the same ``batch_size``;
``merge_shards`` joins shard files into the file a single run writes.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import torch
from einops import rearrange
from tqdm.auto import tqdm

from pde_data.equations import FORCINGS
from pde_data.initial_conditions import InitialCondition
from pde_data.locks import RunLock
from pde_data.parameters import draw_parameters, initial_conditions, parameter_columns, text_caption
from pde_data.recipes import Recipe, preset
from pde_data.storage import (
    atomic_output,
    check_output_file,
    exclusive_output,
    file_recipe,
    open_hdf5,
    read_blocks,
    remove_dead_temporaries,
    write_well_file,
)
from solvers import InputError, SolverDivergedError
from solvers.device import resolve_device

SPLITS = ("train", "valid", "test")
#: seeds are stored as 64-bit integers and hashed with numpy's SeedSequence
MAX_SEED = 2**63


class GenerationError(InputError):
    """Bad generation arguments or a failed solve; the message is one line for the user."""


# --- arguments ---------------------------------------------------------------------------------
def parse_shard(text: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"I/K"`` (0 <= I < K), ``"auto"`` (from torchrun's RANK/WORLD_SIZE or SLURM_PROCID/SLURM_NTASKS)."""
    if text is None or isinstance(text, tuple):
        shard = text
    elif text == "auto":
        for rank, size in (("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS")):
            if rank in os.environ and size in os.environ:
                shard = (int(os.environ[rank]), int(os.environ[size]))
                break
        else:
            raise GenerationError("--shard auto needs RANK and WORLD_SIZE (torchrun) or SLURM_PROCID and SLURM_NTASKS")
    else:
        match = re.fullmatch(r"(\d+)/(\d+)", str(text).strip())
        if not match:
            raise GenerationError(f"bad shard {text!r}: expected I/K with 0 <= I < K, e.g. 0/4, or 'auto'")
        shard = (int(match[1]), int(match[2]))
    if shard is not None and not 0 <= shard[0] < shard[1]:
        raise GenerationError(f"bad shard {shard[0]}/{shard[1]}: expected I/K with 0 <= I < K")
    return shard


def shard_path(path: Path, index: int, count: int) -> Path:
    """Where shard ``index`` of ``count`` of a dataset at ``path`` is written."""
    path = Path(path)
    return path.with_name(f"{path.stem}.shard-{index}-of-{count}{path.suffix}")


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GenerationError(f"{name} must be a positive integer, got {value!r}")
    return value


def resolve_recipe(
    recipe: str | Recipe, resolution: int | None = None, extra_fields: list[str] | tuple[str, ...] | None = None
) -> Recipe:
    """A preset name, a recipe JSON file (``Recipe.to_json``; a path ending in ``.json``) or a recipe,
    at another stored ``resolution`` and with ``extra_fields`` when given."""
    if isinstance(recipe, str) and recipe.endswith(".json"):
        path = Path(recipe)
        if not path.is_file():
            raise InputError(f"no recipe file at {path}")
        try:
            recipe = Recipe.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as error:
            raise InputError(f"{path} is not a recipe JSON file ({error})") from error
    elif isinstance(recipe, str):
        recipe = preset(recipe)
    if resolution is not None:
        recipe = recipe.with_resolution(resolution)
    if extra_fields:
        recipe = recipe.with_extra_fields(extra_fields)
    recipe.check()
    return recipe


def sample_seed(seed: int, split: str, index: int) -> int:
    """The seed of sample ``index``'s generator: a hash of (seed, split, index), 63 bits."""
    state = np.random.SeedSequence([seed, SPLITS.index(split), index]).generate_state(1, dtype=np.uint64)[0]
    return int(state) & ((1 << 63) - 1)


def chunk_ranges(n_samples: int, batch_size: int, shard: tuple[int, int] | None) -> list[tuple[int, int, int]]:
    """``(chunk, start, stop)`` sample ranges this run (or shard) solves."""
    count = math.ceil(n_samples / batch_size)
    if shard is not None and shard[1] > count:
        raise GenerationError(
            f"cannot split {count} batch(es) of {batch_size} samples into {shard[1]} shards; "
            f"use at most {count} shards or a smaller --batch-size"
        )
    first, last = (0, count) if shard is None else (shard[0] * count // shard[1], (shard[0] + 1) * count // shard[1])
    return [(c, c * batch_size, min(n_samples, (c + 1) * batch_size)) for c in range(first, last)]


# --- one chunk --------------------------------------------------------------------------------
def draw_sample(
    recipe: Recipe, initial_conditions: dict[str, InitialCondition], seed: int
) -> tuple[torch.Tensor, float, float, dict]:
    """(initial state on the solver grid, float64 CPU; length factor; time factor; the sample's varying
    parameters, ``{}`` if none) of one sample. ``initial_conditions``: ``parameters.initial_conditions``."""
    generator = torch.Generator().manual_seed(seed)
    factors = 2 * torch.rand(2, generator=generator, dtype=torch.float64) - 1  # drawn always: fixed stream layout
    length_factor = 1.0 + recipe.length_jitter * float(factors[0])
    time_factor = 1.0 + recipe.time_jitter * float(factors[1])
    values = draw_parameters(recipe.varying, seed)
    family = initial_conditions[values.get("initial_condition", "default")]
    u0 = family.sample(1, generator)[0] * values.get("initial_scale", 1.0)
    return u0, length_factor, time_factor, values


def caption(recipe: Recipe, length: float, times: np.ndarray, initial_condition, u0: torch.Tensor, values: dict) -> str:
    """A description of one trajectory, for text conditioning: for a recipe with ``varying``
    parameters, the sample's values in its drawn phrasing (``parameters.text_caption``); otherwise
    one paragraph stating the equation, domain, grid, times and initial condition."""
    if recipe.varying:
        return text_caption(values, recipe.coefficients.get("nu"))
    pde = recipe.pde
    listed = {k: v for k, v in sorted(recipe.coefficients.items()) if k not in pde.inline_coefficients}
    coefficients = ", ".join(f"{name} = {value:g}" for name, value in listed.items())
    domain = f"[0, {length:.4g})" + (f"^{recipe.ndim}" if recipe.ndim > 1 else "")
    text = f"The {pde.title} {pde.equation_text(recipe.coefficients)}"
    text += f" with {coefficients}" if coefficients else ""
    text += f" on the periodic domain {domain} with {recipe.resolution} grid points per axis"
    if recipe.forcing is not None:
        text += f", forced by {FORCINGS[recipe.forcing].text}"
    text += f", from t = {times[0]:.4g} to t = {times[-1]:.4g} in {len(times)} frames."
    text += f" The initial condition at t = 0 is {initial_condition.describe()}"
    text += f", with standard deviation {float(u0.std()):.3g} and range [{float(u0.min()):.3g}, {float(u0.max()):.3g}]."
    return text


def solve_chunk(
    recipe: Recipe, sample_indices: list[int], seeds: list[int], device: str, dtype: torch.dtype | None
) -> dict:
    """Solve one chunk of samples; returns the block of per-trajectory arrays ``storage`` writes."""
    families = initial_conditions(recipe, recipe.solver_resolution)
    draws = [draw_sample(recipe, families, seed) for seed in seeds]
    u0 = torch.stack([d[0] for d in draws])
    lengths = recipe.length * torch.tensor([d[1] for d in draws], dtype=torch.float64)
    time_factors = torch.tensor([d[2] for d in draws], dtype=torch.float64)
    values = [d[3] for d in draws]
    solver = recipe.build_solver(lengths, time_factors, dtype, device, values if recipe.varying else None)
    frame_times = (
        time_factors[:, None]
        * (recipe.t_end / (recipe.total_frames - 1))
        * torch.tensor(recipe.frame_indices(), dtype=torch.float64)
    )
    starts_at_zero = recipe.frame_indices()[0] == 0
    solve_times = (
        frame_times if starts_at_zero else torch.cat([torch.zeros(len(seeds), 1, dtype=torch.float64), frame_times], 1)
    )
    if not isinstance(solver.dt, torch.Tensor):  # one step for the batch: one row of times
        solve_times = solve_times[0]
    try:
        with torch.no_grad():
            trajectory = solver.solve(u0.to(device=solver.device, dtype=solver.dtype), solve_times)
    except SolverDivergedError as error:
        bad = ", ".join(f"sample {sample_indices[i]} (seed {seeds[i]})" for i in error.batch_indices[:5])
        raise GenerationError(
            f"the solve diverged at t = {error.time:g} for {bad}; lower the recipe's max_dt or raise its resolution"
        ) from error
    if not starts_at_zero:
        trajectory = trajectory[:, 1:]
    times = frame_times.numpy()
    return {
        "fields": stored_fields(recipe, solver, trajectory),
        "sample_index": np.asarray(sample_indices, dtype=np.int64),
        "seed": np.asarray(seeds, dtype=np.uint64),
        "length": lengths.numpy(),
        "time": times,
        "caption": [
            caption(recipe, float(lengths[i]), times[i], families.get("default"), u0[i], values[i])
            for i in range(len(seeds))
        ],
        **({"parameters": parameter_columns(recipe.varying, values)} if recipe.varying else {}),
    }


def stored_fields(recipe: Recipe, solver, trajectory: torch.Tensor) -> dict[str, np.ndarray]:
    """The solved field and the recipe's derived fields, subsampled to the stored grid, in file layout.

    ``trajectory`` ``(batch, frames, *solver_grid)``; returns float32 arrays
    ``(batch, frames, *grid)`` for scalars and ``(batch, frames, *grid, components)`` for vectors.
    """
    step = recipe.solver_resolution // recipe.resolution
    subsample = (..., *(slice(None, None, step),) * recipe.ndim)
    fields = {recipe.field_name: trajectory[subsample]}
    for name in recipe.extra_fields:
        derived = recipe.pde.derived_fields[name]
        # frame by frame: a solver with per-sample lengths expects its own batch size
        frames = torch.stack([derived.compute(solver, trajectory[:, i]) for i in range(trajectory.shape[1])], dim=1)
        frames = frames[subsample]
        fields[name] = rearrange(frames, "b t d ... -> b t ... d") if derived.components else frames
    return {name: values.to(device="cpu", dtype=torch.float32).numpy() for name, values in fields.items()}


# --- chunk files --------------------------------------------------------------------------------
def _write_chunk(path: Path, block: dict) -> None:
    with atomic_output(path) as temporary, h5py.File(temporary, "w") as f:
        for key, value in block.items():
            if key == "caption":
                f.create_dataset(key, data=np.array(value, dtype=h5py.string_dtype()))
            elif key in ("fields", "parameters"):
                for name, values in value.items():
                    text = values.dtype == object
                    f.create_dataset(f"{key}/{name}", data=values.astype(h5py.string_dtype()) if text else values)
            else:
                f.create_dataset(key, data=value)


def _read_chunk(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        block = {key: f[key][()] for key in f if key not in ("caption", "fields", "parameters")}
        block["fields"] = {name: f["fields"][name][()] for name in f["fields"]}
        if "parameters" in f:
            block["parameters"] = {name: _column(f["parameters"][name]) for name in f["parameters"]}
        block["caption"] = list(f["caption"].asstr()[()])
    return block


def _column(dataset: h5py.Dataset) -> np.ndarray:
    return np.array(dataset.asstr()[()], dtype=object) if dataset.dtype.kind == "O" else dataset[()]


def _chunk_file(parts: Path, chunk: int) -> Path:
    return parts / f"chunk-{chunk:06d}.h5"


# --- the whole run --------------------------------------------------------------------------
def generate(
    recipe: str | Recipe,
    path: str | Path,
    n_samples: int | None = None,
    *,
    seed: int = 0,
    split: str = "train",
    device: str = "cpu",
    batch_size: int = 32,
    resolution: int | None = None,
    extra_fields: list[str] | tuple[str, ...] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    shard: str | tuple[int, int] | None = None,
    dtype: torch.dtype | None = None,
    progress: bool = True,
) -> Path:
    """Generate ``n_samples`` trajectories of ``recipe`` into one HDF5 file at ``path``.

    Args:
        recipe: a preset name (``pde_data.presets()``) or a ``Recipe``.
        path: output file (The Well's HDF5 layout). With ``shard`` the file is
            ``shard_path(path, I, K)`` instead.
        n_samples: trajectories (default: the recipe's count for ``split``).
        seed: base seed; sample ``i`` uses ``sample_seed(seed, split, i)``.
        split: ``train``, ``valid`` or ``test``: picks the default count and keeps the
            splits' random streams apart.
        device: where to solve (``cpu``, ``cuda``, ``cuda:1``).
        batch_size: samples solved together (memory grows with it; the bytes of
            the result depend on it, so keep it when resuming or sharding).
        resolution: stored grid points per axis (default the recipe's).
        extra_fields: derived fields to store too (e.g. ``["velocity"]`` for Navier-Stokes:
            a multi-channel dataset); see ``pde_data.equations``.
        resume: continue an interrupted run from its finished chunks.
        overwrite: replace an existing file (the old one stays until the new one is complete).
        shard: ``"I/K"`` or ``"auto"``: solve only shard I of K.
        dtype: solver precision (default float64 on CPU, float32 on CUDA).
        progress: show a progress bar with ETA.

    Returns:
        The path written. Raises ``GenerationError`` for bad arguments or a diverging solve.
    """
    try:
        recipe = resolve_recipe(recipe, resolution, extra_fields)
    except ValueError as error:
        raise GenerationError(str(error)) from error
    if split not in SPLITS:
        raise GenerationError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    n_samples = _positive_int("the number of samples", recipe.samples.get(split, 0) if n_samples is None else n_samples)
    batch_size = _positive_int("the batch size", batch_size)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise GenerationError(f"the seed must be an integer >= 0 and < 2**63, got {seed!r}")
    if dtype not in (None, torch.float32, torch.float64):
        raise GenerationError(f"dtype must be None, torch.float32 or torch.float64, got {dtype!r}")
    if shard == "auto" and device == "cuda" and "LOCAL_RANK" in os.environ:
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"  # one GPU per torchrun process
    shard = parse_shard(shard)
    device = _check_device(device)
    chunks = chunk_ranges(n_samples, batch_size, shard)  # checked before anything is created
    path = Path(path)
    output = shard_path(path, *shard) if shard else path
    _check_output(output, overwrite)
    parts = output.with_name(output.name + ".parts")
    settings = {
        "recipe": recipe.to_dict(),
        "seed": seed,
        "split": split,
        "n_samples": n_samples,
        "batch_size": batch_size,
        "shard": list(shard) if shard else None,
        "dtype": str(dtype),
    }
    with RunLock(output.with_name(output.name + ".lock"), f"generating {output}"):
        remove_dead_temporaries(output)
        _prepare_parts(parts, settings, resume, overwrite)
        try:
            _solve_chunks(
                recipe, chunks, parts, seed, split, device, dtype, f"{recipe.name} -> {output.name}", progress
            )
        except BaseException:
            if not any(parts.glob("chunk-*.h5")):  # nothing finished: leave nothing behind
                shutil.rmtree(parts, ignore_errors=True)
            raise
        metadata = {"seed": seed, "split": split}
        if shard:
            metadata.update(shard=f"{shard[0]}/{shard[1]}", n_samples_total=n_samples, batch_size=batch_size)
        count = sum(stop - start for _, start, stop in chunks)
        blocks = (_read_chunk(_chunk_file(parts, c)) for c, _, _ in chunks)
        write_well_file(output, recipe, count, blocks, metadata, replace=overwrite)
        shutil.rmtree(parts, ignore_errors=True)
    return output


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure (CUDA's OutOfMemoryError, or the CPU allocator's RuntimeError)."""
    text = str(error)
    return isinstance(error, (torch.OutOfMemoryError, MemoryError)) or "can't allocate memory" in text


def _solve_chunks(recipe, chunks, parts: Path, seed: int, split: str, device, dtype, label: str, progress: bool):
    """Solve and write every chunk not yet in ``parts``, with a progress bar."""
    todo = [c for c in chunks if not _chunk_file(parts, c[0]).exists()]
    total = sum(stop - start for _, start, stop in chunks)
    done = total - sum(stop - start for _, start, stop in todo)
    with tqdm(total=total, initial=done, unit="traj", desc=label, disable=not progress) as bar:
        for chunk, start, stop in todo:
            indices = list(range(start, stop))
            seeds = [sample_seed(seed, split, i) for i in indices]
            try:
                block = solve_chunk(recipe, indices, seeds, device, dtype)
            except (torch.OutOfMemoryError, MemoryError, RuntimeError) as error:
                if not is_out_of_memory(error):
                    raise
                raise GenerationError(
                    f"out of memory solving {len(indices)} trajectories at {recipe.solver_resolution} points per "
                    f"axis on {device}; lower --batch-size (or --resolution)"
                ) from error
            _write_chunk(_chunk_file(parts, chunk), block)
            bar.update(stop - start)


def _check_device(device: str) -> str:
    try:
        return str(resolve_device(device, allow_auto=False))
    except InputError as error:
        raise GenerationError(str(error)) from None


def _check_output(output: Path, overwrite: bool) -> None:
    try:
        check_output_file(output, overwrite)
    except InputError as error:
        raise GenerationError(str(error)) from None


def _prepare_parts(parts: Path, settings: dict, resume: bool, overwrite: bool) -> None:
    manifest = parts / "manifest.json"
    if parts.exists():
        if overwrite and not resume:
            shutil.rmtree(parts)
        elif not resume:
            raise GenerationError(
                f"an interrupted run left {parts}; pass --resume to continue it or --overwrite to start over"
            )
        else:
            previous = json.loads(manifest.read_text()) if manifest.exists() else None
            if previous != json.loads(json.dumps(settings)):
                changed = sorted(
                    k for k in settings if previous is None or previous.get(k) != json.loads(json.dumps(settings))[k]
                )
                raise GenerationError(
                    f"cannot resume {parts}: it was started with different settings ({', '.join(changed)}); "
                    "use the same arguments or --overwrite"
                )
            return
    parts.mkdir(parents=True)
    temporary = manifest.with_name(".manifest.json.tmp")
    temporary.write_text(json.dumps(settings, indent=1, sort_keys=True))
    os.replace(temporary, manifest)


# --- shards ---------------------------------------------------------------------------------------
def merge_shards(path: str | Path, shards: list[str | Path] | None = None, overwrite: bool = False) -> Path:
    """Join shard files into the single file an unsharded run writes at ``path``.

    ``shards`` defaults to every ``shard_path(path, I, K)`` that exists. The shards
    must come from one run (same recipe, seed, split, sample count, batch size) and
    cover every sample exactly once.
    """
    path = Path(path)
    if shards is None:
        pattern = re.compile(re.escape(path.stem) + r"\.shard-(\d+)-of-(\d+)" + re.escape(path.suffix) + "$")
        shards = sorted(p for p in path.parent.glob(f"{path.stem}.shard-*{path.suffix}") if pattern.match(p.name))
    if not shards:
        raise GenerationError(f"no shard files found for {path} (expected {shard_path(path, 0, 2).name}, ...)")
    _check_output(path, overwrite)
    headers = []
    for shard in shards:
        with open_hdf5(shard, "shard file") as f:
            attrs = dict(f.attrs)
            missing = [key for key in ("pdeop/sample_index", "pdeop/seed", "pdeop/caption") if key not in f]
            if "shard" not in attrs:
                raise GenerationError(f"{shard} is not a shard file (it has no 'shard' attribute)")
            if missing:
                raise GenerationError(f"{shard} is not a complete shard file (it lacks {', '.join(missing)})")
            headers.append((int(f["pdeop/sample_index"][0]) if f["pdeop/sample_index"].size else 0, Path(shard), attrs))
    headers.sort(key=lambda h: h[0])
    keys = ("recipe", "seed", "split", "n_samples_total", "batch_size")
    reference = {k: headers[0][2][k] for k in keys}
    for _, shard, attrs in headers[1:]:
        different = [k for k in keys if attrs[k] != reference[k]]
        if different:
            raise GenerationError(
                f"{shard} comes from another run than {headers[0][1]} (differs in {', '.join(different)})"
            )
    total = int(reference["n_samples_total"])
    counts = sorted(int(attrs["n_trajectories"]) for _, _, attrs in headers)
    if sum(counts) != total:
        raise GenerationError(f"the shards hold {sum(counts)} of {total} samples; some are missing or repeated")
    recipe = file_recipe(headers[0][1])
    # blocks of the run's batch size: the file is then written exactly as a single run writes it
    blocks = _checked_blocks([shard for _, shard, _ in headers], total, int(reference["batch_size"]))
    with exclusive_output(path, overwrite, "merging into"):  # a second merge or a generate of the same file waits
        return write_well_file(
            path,
            recipe,
            total,
            blocks,
            {"seed": int(reference["seed"]), "split": str(reference["split"])},
            replace=overwrite,
        )


def _checked_blocks(paths: list[Path], total: int, rows_per_block: int) -> Iterator[dict]:
    expected = 0
    for path in paths:
        for block in read_blocks(path, rows_per_block):
            indices = block["sample_index"]
            if not np.array_equal(indices, np.arange(expected, expected + len(indices))):
                raise GenerationError(
                    f"{path} does not continue the samples at index {expected}; shards overlap or are missing"
                )
            expected += len(indices)
            yield block
    if expected != total:
        raise GenerationError(f"the shards end at sample {expected} of {total}")


__all__ = [
    "GenerationError",
    "chunk_ranges",
    "generate",
    "merge_shards",
    "parse_shard",
    "sample_seed",
    "shard_path",
]
