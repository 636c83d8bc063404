"""Slides: open a file with large_image, the grid of cells at the model's scale, which cells hold
tissue, and reading their tiles (each pixel once, on threads).
May import: the package's foundation modules (errors, progress, atomic) only."""
