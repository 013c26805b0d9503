"""Callbacks, one per artifact a person looks at: sample grids, the loss plot, the progress GIF, real vs fake,
the progress bar, FID/KID during training, throughput, and the HParams row. Checkpoint callbacks live in
facegan/checkpoints/."""

from facegan.callbacks.hparams import HParamsCallback
from facegan.callbacks.loss_plot import LossPlotCallback
from facegan.callbacks.progress_bar import GANProgressBar
from facegan.callbacks.progress_gif import ProgressGifCallback
from facegan.callbacks.quality_metrics import MetricsCallback
from facegan.callbacks.real_vs_fake import RealVsFakeCallback
from facegan.callbacks.sample_grid import SampleGridCallback
from facegan.callbacks.throughput import ThroughputCallback

__all__ = [
    "GANProgressBar",
    "HParamsCallback",
    "LossPlotCallback",
    "MetricsCallback",
    "ProgressGifCallback",
    "RealVsFakeCallback",
    "SampleGridCallback",
    "ThroughputCallback",
]
