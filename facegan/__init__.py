"""facegan: train DCGANs that generate faces, with PyTorch Lightning and Hydra."""

__version__ = "0.1.0"
