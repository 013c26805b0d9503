"""Is a process of this machine still running? For the owners of locks and trials, and a run's peer processes."""

import os
import socket
from pathlib import Path


def this_host() -> str:
    return socket.gethostname()


def pid_runs(pid: int) -> bool:
    """Whether process `pid` of this machine runs: not gone, and not a zombie its parent has not reaped yet."""
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")
    except FileNotFoundError:
        if Path("/proc/self").is_dir():
            return False
    try:  # no /proc (macOS): signal 0 asks without sending
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True
