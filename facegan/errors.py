"""User-facing errors: one line that names the bad value and the fix, never a traceback."""

import contextlib
import errno
import sys
from collections.abc import Iterator


class FaceganError(ValueError):
    """Base of errors caused by the user's input (configuration or data), not by a bug."""


class ConfigError(FaceganError):
    """A configuration value that cannot work."""


# The wording of the common rules, shared by every owner of a setting (an object's constructor, or the pre-run
# check for the settings no object owns), so that one kind of rule reads the same whichever key breaks it.
def is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def require_integer(key: str, value: object, minimum: int, example: object) -> None:
    if not is_integer(value) or value < minimum:
        raise ConfigError(f"{key}={value} must be an integer >= {minimum}, e.g. {key}={example}")


def require_positive(key: str, value: object, example: object) -> None:
    if not is_number(value) or value <= 0:
        raise ConfigError(f"{key}={value} must be a number > 0, e.g. {key}={example}")


def require_boolean(key: str, value: object) -> None:
    # `key=no` reaches Python as the string "no", which is true: a typo must not switch a feature on.
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value} must be true or false")


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
def user_errors_unwrapped() -> Iterator[None]:
    """Raise the FaceganError behind a library's wrapper (Hydra's instantiate wraps constructor errors) as itself."""
    try:
        yield
    except Exception as error:
        user_error = find_user_error(error)
        if user_error is None or user_error is error:
            raise
        raise user_error from None


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turn a FaceganError into `facegan: error: ...` on stderr and exit status 2; re-raise anything else."""
    try:
        with user_errors_unwrapped():
            yield
    except FaceganError as user_error:
        print(f"facegan: error: {user_error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
