"""Callbacks that write what a person looks at: sample grids, the loss plot, the progress GIF, real vs fake;
and the quality metrics (FID/KID) with the best-FID checkpoint."""

from facegan.callbacks.loss_plot import LossPlotCallback
from facegan.callbacks.metrics import BestMetricCheckpoint, MetricsCallback
from facegan.callbacks.progress_bar import GANProgressBar
from facegan.callbacks.progress_gif import ProgressGifCallback
from facegan.callbacks.real_vs_fake import RealVsFakeCallback
from facegan.callbacks.sample_grid import SampleGridCallback

__all__ = [
    "BestMetricCheckpoint",
    "GANProgressBar",
    "LossPlotCallback",
    "MetricsCallback",
    "ProgressGifCallback",
    "RealVsFakeCallback",
    "SampleGridCallback",
]
