"""Is a process still running? For the owners of locks and trials, and a run's peer processes.

A pid means something only in the pid table it came from: the same host name is not enough, since containers
that share a host name (`--network host`, or the same name given twice) each have a PID namespace of their own,
and a host that rebooted reuses pids. So a process records who it is with `this_process()` (host, pid, PID
namespace and boot), and `is_running(record)` looks its pid up only when all of those are this process's own;
otherwise it cannot tell, and callers judge by a heartbeat instead.
"""

import os
import socket
from pathlib import Path

from facegan.errors import is_integer


def this_host() -> str:
    return socket.gethostname()


def pid_namespace() -> int | None:
    """This process's PID namespace (the inode of /proc/self/ns/pid), None where there is none to read (macOS)."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def boot_id() -> str | None:
    """This boot of the machine, None where the kernel does not say (macOS)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def this_process() -> dict:
    """Who this process is, as a JSON-ready record that another process can judge with `is_running`."""
    return {"host": this_host(), "pid": os.getpid(), "pid_ns": pid_namespace(), "boot": boot_id()}


def is_process_record(record: object) -> bool:
    """Whether `record` names a process as `this_process()` does: a dict with a str host and an int pid > 0."""
    return (
        isinstance(record, dict)
        and isinstance(record.get("host"), str)
        and is_integer(record.get("pid"))
        and record["pid"] > 0
    )


def shares_pid_table(record: dict) -> bool:
    """Whether the pid in `record` is a pid of this process's own table: same host, PID namespace and boot.
    A record without the namespace (another program, an older facegan) never is, where this process has one."""
    ours = this_process()
    return is_process_record(record) and all(record.get(key) == ours[key] for key in ("host", "pid_ns", "boot"))


def is_this_process(record: object) -> bool:
    return shares_pid_table(record) and record["pid"] == os.getpid()


def is_running(record: object) -> bool | None:
    """Whether the process `record` names (see `this_process`) runs: True or False when its pid can be looked up
    here, None when it cannot (another host or container, an earlier boot, a record that is not one)."""
    if not shares_pid_table(record):
        return None
    return pid_runs(record["pid"])


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
