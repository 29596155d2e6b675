"""The ``pdeop`` command line: one entry point, one subcommand per job, one module per command group.

Groups: ``data`` (generate, merge, info, plot, convert), ``runs`` (train, evaluate, predict,
quickstart), ``bench``, ``assimilation`` (observe, assimilate) and ``sampling`` (sample). Each group
module holds its commands' one-line help (``HELP``) and the functions that add their parsers
(``ADDERS``); a handler imports what it needs (torch, the models) when it runs. Only the command being
run gets its full parser, whose help may list presets or models: ``pdeop --help`` and light commands
start without loading torch.

Bad input (``solvers.InputError``, which every layer raises for user mistakes) ends with one clear
line on stderr and exit status 2; so do environment failures the user can act on (a read-only folder,
a full disk). Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from training.threads import apply_threads, prepare_environment

prepare_environment()  # before anything imports torch: OpenMP reads its wait policy when it loads

import argparse  # noqa: E402
import errno  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterable  # noqa: E402

from solvers.errors import InputError  # noqa: E402
from training.cli import assimilation, bench, data, runs, sampling  # noqa: E402
from training.cli.common import CommandError, package_version  # noqa: E402

#: the command groups, in the order ``pdeop --help`` lists them
GROUPS = (data, runs, bench, assimilation, sampling)
#: OSError numbers that describe the user's environment, not a bug
ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOENT, errno.EISDIR}

__all__ = ["CommandError", "build_parser", "main"]


def build_parser(detailed: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The ``pdeop`` parser; the commands in ``detailed`` (default all) get their full parsers, the
    others only their name and help line."""
    parser = argparse.ArgumentParser(
        prog="pdeop",
        description=(
            "Neural operators and PDE surrogates: generate benchmark datasets with spectral solvers, "
            "train surrogate operators, and predict with them."
        ),
        epilog="Run 'pdeop COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"pdeop {package_version()}")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    detailed = None if detailed is None else set(detailed)
    for group in GROUPS:
        for name, add in group.ADDERS.items():
            if detailed is None or name in detailed:
                add(commands)
            else:
                commands.add_parser(name, help=group.HELP[name])
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in argv if not word.startswith("-")), None)
    parser = build_parser([command] if command else [])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        apply_threads(args.threads)
        args.handler(args)
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at interpreter exit
    except KeyboardInterrupt:
        print("pdeop: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of the output went away (e.g. `pdeop info FILE | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except InputError as error:
        return _report(args.command, error)
    except OSError as error:
        if error.errno not in ENVIRONMENT_ERRNOS:
            raise
        return _report(args.command, error)
    return 0


def _report(command: str, error: BaseException) -> int:
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    print(f"pdeop {command}: error: {message}", file=sys.stderr)
    return 2
