"""Search across a folder of slides: the targets and their caches, exact streaming top-k, the
FAISS index, and the Girder side (folder items, links, heatmaps on every slide).
May import: steps and every room below it."""
