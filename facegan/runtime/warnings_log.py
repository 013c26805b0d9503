"""Python warnings (Lightning's among them) in the run's log file as well as on the terminal, each message once."""

import logging
import warnings

WARNINGS_LOGGER = "py.warnings"  # where logging.captureWarnings sends them


class OncePerMessage(logging.Filter):
    """Lets each warning through once: a warning raised on every batch must not flood train.log. The message of a
    captured warning names its file and line, so the same text from two places is two messages."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def warnings_to_log() -> None:
    """Route warnings.warn through logging (Hydra's job logging writes train.log); the warning filters (Python's,
    Lightning's, the user's -W) still decide what is shown. Called once per run: the jobs of a sweep in one process
    each start with a fresh filter, so every job's train.log has its own warnings."""
    # Lightning trips over its own torch.utils._pytree deprecation on every batch: nothing for users to act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # Off, then on: logging keeps a capture as done even after a warnings.catch_warnings block (around an earlier run
    # in this process) has put its own showwarning back.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    logger = logging.getLogger(WARNINGS_LOGGER)
    for existing in [existing for existing in logger.filters if isinstance(existing, OncePerMessage)]:
        logger.removeFilter(existing)
    logger.addFilter(OncePerMessage())
