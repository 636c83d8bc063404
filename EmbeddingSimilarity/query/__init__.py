"""Questions to a grid: key shapes, the cells and weights they give, scorers, the cosine pass,
calibration, hit regions and cluster maps. Pure functions over arrays, no Girder, no drawing.
May import: slide (geometry), cache (the grid and its checks) and the foundation modules."""
