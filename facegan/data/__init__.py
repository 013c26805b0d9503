"""Data: CelebA (folder, official/torchvision layout or zip) and built-in synthetic faces."""
