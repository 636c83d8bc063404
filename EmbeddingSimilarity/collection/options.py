"""What a collection search covers and writes: the folder, how many matches, the result files,
the index and where target caches live."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class CollectionOptions:
    collection: str = ''
    """The folder of slides to search (a Girder folder id in Girder)."""
    top_k: int = 100
    output_results: str = ''
    output_gallery: str = ''
    index: str = ''
    """A FAISS index to build, update and search ('' = exact search)."""
    embeddings_folder: str = ''
    """Where target caches are looked for (and new ones written)."""
