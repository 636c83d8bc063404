"""Questions to a grid: key shapes, the cells and weights they give (text prompts through the
models' text towers), scorers, the cosine pass, calibration, hits, cluster maps and their tables.
May import: slide, models (text), cache and the foundation modules; no Girder, no drawing."""
