"""The ``pdeop`` command line: one entry point, one subcommand per job.

Bad input ends with one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    try:
        return version("pdeop")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pdeop",
        description=(
            "Neural operators and PDE surrogates: generate benchmark datasets with spectral solvers, "
            "train surrogate operators, and predict with them."
        ),
        epilog="Run 'pdeop COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"pdeop {package_version()}")
    parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
