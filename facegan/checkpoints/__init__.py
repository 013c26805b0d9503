"""Checkpoints: written atomically and read safely (io.py), resumed and vetted (resume.py), saved on a signal or
every N batches (preemption.py), after every epoch (epochs.py), the best-FID one (best.py), the paths a resumed
checkpoint callback may touch (restored_paths.py), the disk they need (disk.py), and a trained generator rebuilt
from one for the tools (trained_generator.py)."""
