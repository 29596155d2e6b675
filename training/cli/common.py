"""What every ``pdeop`` command shares: the user-facing error, the ``--threads`` option, argument types."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version

from solvers.errors import InputError


class CommandError(InputError):
    """A user-facing failure of the command line itself: printed as one line, exit status 2."""


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--threads",
        type=positive_int,
        help="CPU threads for torch (default: $PDEOP_THREADS, else 1 on machines with up to 2 cores; README: Busy machines)",
    )
    return common


def add_command(commands, name: str, **options) -> argparse.ArgumentParser:
    """A subcommand with the options every command shares."""
    return commands.add_parser(name, parents=[common_options()], **options)


def package_version() -> str:
    try:
        return version("pdeop")
    except PackageNotFoundError:
        return "unknown (not installed)"


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (0 and negative values would silently mean something else)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value
