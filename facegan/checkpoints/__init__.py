"""Checkpoints: written atomically (io.py), read safely (io.py), resumed and vetted (resume.py), with every
RNG state (rng.py), saved on a signal or every N batches (preemption.py), the best-FID one (best.py), and a
trained generator rebuilt from one for the tools (generator.py)."""
