"""Callbacks that write what a person looks at: sample grids and the loss plot."""

from facegan.callbacks.loss_plot import LossPlotCallback
from facegan.callbacks.sample_grid import SampleGridCallback

__all__ = ["LossPlotCallback", "SampleGridCallback"]
