"""Embedding grids at rest: the ``.npz`` format, its integrity checks and typed provenance, and
finding, reusing and saving caches (local file, checkpoint, Girder cache folder).
May import: slide, girder and the foundation modules."""
