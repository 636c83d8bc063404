"""EmbeddingSimilarity: find tissue that looks like a clicked point, with pathology foundation
models, as a Digital Slide Archive (Slicer CLI) task."""

__version__ = '0.1.0'

TOOL_ATTRIBUTE = 'EmbeddingSimilarity'
"""Key of this tool's attributes in an annotation and of its metadata on a Girder item."""
CLUSTER_TOOL_ATTRIBUTE = 'EmbeddingClusters'
"""The same for the cluster maps of ``EmbeddingClusters``."""
HITS_TOOL_ATTRIBUTE = 'EmbeddingSimilarityHits'
"""The same for the hit polygons that go with a similarity map."""
