"""Embedding grids at rest: the ``.npz`` format, its integrity checks and typed provenance, other
tools' feature files (TRIDENT, STAMP, LazySlide), and finding, reusing and saving caches.
May import: slide, models (encoder names), girder and the foundation modules."""
