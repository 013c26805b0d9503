"""Python warnings in the run's log (train.log), each once: the de-duplication, the user's filters still in charge,
and a real tiny run whose train.log holds Lightning's warning."""

import logging
import warnings

import pytest

from facegan.runtime.warnings_log import WARNINGS_LOGGER, OncePerMessage, warnings_to_log
from helpers import TINY, run_cli


@pytest.fixture
def captured(caplog):
    """warnings_to_log() for one test, undone afterwards; the py.warnings records it produced."""
    logger = logging.getLogger(WARNINGS_LOGGER)
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # every call reaches showwarning: the de-duplication is the filter's
        warnings_to_log()
        caplog.set_level(logging.WARNING, logger=WARNINGS_LOGGER)
        try:
            yield lambda: [record.getMessage() for record in caplog.records if record.name == WARNINGS_LOGGER]
        finally:
            logging.captureWarnings(False)
            for once in [existing for existing in logger.filters if isinstance(existing, OncePerMessage)]:
                logger.removeFilter(once)


def warn_every_batch(batches: int) -> None:
    for _ in range(batches):
        warnings.warn("the same every batch", UserWarning, stacklevel=1)


def test_once_per_message_lets_each_text_through_once():
    once = OncePerMessage()
    records = [logging.LogRecord(WARNINGS_LOGGER, logging.WARNING, __file__, 1, text, None, None) for text in "aab"]
    assert [once.filter(record) for record in records] == [True, False, True]


def test_a_warning_raised_every_batch_is_logged_once(captured):
    warn_every_batch(5)
    warnings.warn("another one", UserWarning, stacklevel=1)
    messages = captured()
    assert len([message for message in messages if "the same every batch" in message]) == 1
    assert len([message for message in messages if "another one" in message]) == 1
    assert "UserWarning" in messages[0] and __file__ in messages[0]  # where it came from, as Python prints it


def test_the_users_filters_still_decide(captured):
    warnings.filterwarnings("ignore", message="hidden on purpose")
    warnings.warn("hidden on purpose", UserWarning, stacklevel=1)
    warnings.filterwarnings("error", message="an error on purpose")
    with pytest.raises(UserWarning, match="an error on purpose"):
        warnings.warn("an error on purpose", UserWarning, stacklevel=1)
    assert captured() == []


def test_each_run_in_one_process_logs_its_own_warnings(captured):
    warn_every_batch(2)
    warnings_to_log()  # the next sweep job in the same process
    warn_every_batch(2)
    assert len([message for message in captured() if "the same every batch" in message]) == 2
    assert len([once for once in logging.getLogger(WARNINGS_LOGGER).filters if isinstance(once, OncePerMessage)]) == 1


@pytest.mark.slow
def test_lightnings_warnings_reach_train_log_once(tmp_path):
    # 4 batches per epoch, fewer than the logging interval: Lightning warns (warnings.warn) at the start of fit
    run_cli("train.py", *TINY, "trainer.log_every_n_steps=10", f"hydra.run.dir={tmp_path}")
    lines = [line for line in (tmp_path / "train.log").read_text().splitlines() if "[py.warnings]" in line]
    assert len([line for line in lines if "smaller than the logging interval" in line]) == 1
