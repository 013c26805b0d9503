"""facegan-explore: a local web app to see what a trained generator learned.

directions.py (latent directions without labels, the GANSpace way), training_neighbours.py (the nearest training
images of a face), explorer.py (the app's functions on tensors and images, no web: tested directly), app.py (the
Gradio page wired to them), images.py (tensors to the pictures the page shows). Seeded z, truncation and
spherical interpolation are facegan/latent.py's, as for every tool; the command is facegan/tools/explore.py
(`facegan-explore`, scripts/explore.py).
"""
