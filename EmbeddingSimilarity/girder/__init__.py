"""All talk with Girder: the run's session (item, annotations posted or updated in place) and
the user's embedding cache folder. The transport only: it knows no grids, queries or pictures.
May import: the foundation modules only."""
