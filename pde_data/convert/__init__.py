"""Converters from the field's dataset formats into The Well's layout, which pdeop trains on directly.

``convert(format, source, out)`` reads ``source`` in ``format`` (``FORMATS``), streams it block by block
into one HDF5 file at ``out`` (``pde_data.convert.writer``) and returns the path. The output appears only
when complete; a source that is not in its format's layout is refused with one line and leaves nothing.
"""

from __future__ import annotations

from pathlib import Path

from pde_data.convert.fno_mat import read_fno_mat
from pde_data.convert.neuraloperator_pt import read_neuraloperator_pt
from pde_data.convert.pdearena import read_pdearena
from pde_data.convert.pdebench import read_pdebench
from pde_data.convert.source import ConvertedSource
from pde_data.convert.writer import write_converted
from pde_data.storage import exclusive_output
from solvers.errors import InputError, MissingFileError

#: format name -> reader of a source file
FORMATS = {
    "pdebench": read_pdebench,
    "fno-mat": read_fno_mat,
    "pdearena": read_pdearena,
    "neuraloperator-pt": read_neuraloperator_pt,
}


def convert(
    format: str,
    source: str | Path,
    out: str | Path,
    periodic: bool | None = None,
    progress: bool = True,
    overwrite: bool = True,
) -> Path:
    """Convert ``source`` (a file in ``format``) to a Well-layout file at ``out``.

    ``periodic``: whether the domain is periodic, for sources that do not record it (default: the
    format's convention, which the output's ``pdeop_source`` attribute lists under ``assumed``).
    ``overwrite``: replace an existing ``out`` (``pdeop convert`` asks for ``--overwrite``). A second
    process converting to the same ``out`` is refused while this one runs.
    """
    if format not in FORMATS:
        raise InputError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    source, out = Path(source), Path(out)
    if not source.is_file():
        raise MissingFileError(f"no source file at {source}")
    if out.resolve() == source.resolve():
        raise InputError(f"--out {out} is the source file itself; choose another path")
    if out.suffix.lower() not in (".h5", ".hdf5"):
        raise InputError(f"--out {out} should end in .h5 or .hdf5")
    with exclusive_output(out, overwrite, "converting to"):  # checked before reading a large source
        described = _read(FORMATS[format], source, periodic)
        provenance = {"format": format, "file": source.name, "bytes": source.stat().st_size}
        return write_converted(described, out, provenance, progress=progress, replace=overwrite)


def _read(reader, source: Path, periodic: bool | None) -> ConvertedSource:
    try:
        return reader(source, periodic)
    except OSError as error:
        raise InputError(f"{source} is not a readable file of this format ({error})") from error


__all__ = ["FORMATS", "ConvertedSource", "convert"]
