"""Slides: open a file with large_image, the grid of cells at the model's scale, which cells hold
tissue, reading their tiles (each pixel once, on threads), and the memory a grid may take.
May import: the package's foundation modules (errors, progress, atomic) only."""
