"""The command lines: the XMLs' parsers, the request records they fill, path guards, and one flow
file per CLI (EmbeddingSimilarity, EmbeddingClusters, CollectionSimilarity), plus folder batches.
May import: everything; nothing imports it."""
