"""How one batch trains: the LightningModule that orchestrates the updates (module.py), the losses that own the
maths (losses.py), the update schedule (schedule.py), the EMA generator (ema.py), DiffAugment (augment.py) and
the NaN/Inf watch (divergence.py)."""
