"""Which process holds something in the store: "host:pid", and whether it is dead."""

from __future__ import annotations

import os
import socket

__all__ = ["this_process", "dead_here"]


def this_process() -> str:
    """This process, as "host:pid"."""
    return f"{socket.gethostname()}:{os.getpid()}"


def dead_here(owner: str) -> bool:
    """Whether ``owner`` ("host:pid") is a process of this host that is no longer running
    (a process of another host, or a pid now running again, is not known to be dead)."""
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # running, as another user
    try:  # a killed process its parent has not reaped yet is a zombie: dead as well
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False
