"""The steps every CLI shares: plan a run, reuse or embed the grid and save it, preview levels,
exemplar annotations as shapes, and publish (Girder, ``.anot``, PNG).
May import: every room below it (slide, models, engine, girder, cache, query, render)."""
