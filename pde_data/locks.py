"""A lock file that tells concurrent pdeop processes apart (``generate`` to one output, ``train`` to one run).

The lock holds its owner's process id and host. A second process finds it and is
told who is writing; a lock left by a process that died (same host, process gone)
is stale and taken over, so a killed run never blocks the next one.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import suppress
from pathlib import Path

from solvers.errors import InputError


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """``with RunLock(path, "generating data.h5"):`` holds ``path`` exclusively for this process.

    Raises ``InputError`` naming the owner when a live process holds it.
    """

    def __init__(self, path: str | Path, activity: str):
        self.path, self.activity = Path(path), activity
        self.owner = {"pid": os.getpid(), "host": socket.gethostname()}

    def __enter__(self) -> RunLock:
        for _ in range(2):
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(descriptor, "w") as handle:
                json.dump({**self.owner, "since": time.strftime("%Y-%m-%d %H:%M:%S")}, handle)
            return self
        raise InputError(f"could not take the lock {self.path}; another process is {self.activity}")

    def _take_over_if_stale(self) -> None:
        try:
            owner = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            owner = {}
        pid, host = owner.get("pid"), owner.get("host")
        if isinstance(pid, int) and host == self.owner["host"] and not alive(pid):
            with suppress(FileNotFoundError):
                self.path.unlink()  # the owner died: stale
            return
        if not owner:  # being written right now, or unreadable: treat as held
            time.sleep(0.1)
            if not self.path.exists():
                return
        who = f"process {pid} on {host}" if pid else "another process"
        raise InputError(
            f"{who} is {self.activity} (since {owner.get('since', '?')}, lock {self.path}); "
            "wait for it to finish or stop it"
        )

    def __exit__(self, *exc) -> None:
        with suppress(OSError, ValueError):
            if json.loads(self.path.read_text()).get("pid") == self.owner["pid"]:
                self.path.unlink()
