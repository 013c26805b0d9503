"""User-facing errors: one line that names the bad value and the fix, never a traceback."""

import contextlib
import errno
import sys
from collections.abc import Iterator


class FaceganError(ValueError):
    """Base of errors caused by the user's input (configuration or data), not by a bug."""


class ConfigError(FaceganError):
    """A configuration value that cannot work."""


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def disk_full_line(error: OSError) -> FaceganError:
    """Any write that found the disk full (a sample grid, a log, a cache), as a one-line user error."""
    where = f" writing {error.filename}" if error.filename else ""
    return FaceganError(
        f"no space left on the device{where}: free space or set paths.log_dir to a disk with room, then resume "
        "with ckpt_path=last (checkpoints are written atomically: the last one is complete)"
    )


def describe(error: BaseException) -> str:
    """A library's exception as `Type: first sentence of its first line`, for a one-line report.
    (torch and PIL run their messages on over paragraphs; the first sentence names the problem.)"""
    lines = str(error).splitlines()
    first = lines[0].split(". ")[0].rstrip(".,") if lines else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def find_user_error(error: BaseException) -> FaceganError | None:
    """The FaceganError behind `error`, also when wrapped (Hydra's instantiate wraps constructor errors)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, FaceganError):
            return error
        if is_disk_full(error):
            return disk_full_line(error)
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turn a FaceganError into `facegan: error: ...` on stderr and exit status 2; re-raise anything else."""
    try:
        yield
    except Exception as error:
        user_error = find_user_error(error)
        if user_error is None:
            raise
        print(f"facegan: error: {user_error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
