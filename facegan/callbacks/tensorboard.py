"""Find the TensorBoard writer among a trainer's loggers, if any."""

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger


def tensorboard_writer(trainer: pl.Trainer):
    """The SummaryWriter of the trainer's TensorBoardLogger, or None when TensorBoard is off."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None
