"""Callbacks, one per artifact a person looks at: sample grids, the loss plot, the progress GIF, real vs fake,
the progress bar, and FID/KID during training. Checkpoint callbacks live in facegan/checkpoints/."""

from facegan.callbacks.loss_plot import LossPlotCallback
from facegan.callbacks.metrics import MetricsCallback
from facegan.callbacks.progress_bar import GANProgressBar
from facegan.callbacks.progress_gif import ProgressGifCallback
from facegan.callbacks.real_vs_fake import RealVsFakeCallback
from facegan.callbacks.sample_grid import SampleGridCallback

__all__ = [
    "GANProgressBar",
    "LossPlotCallback",
    "MetricsCallback",
    "ProgressGifCallback",
    "RealVsFakeCallback",
    "SampleGridCallback",
]
