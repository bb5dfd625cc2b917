from automl.cache.store import ArtifactCache, EmbeddingTable, make_key

__all__ = ["ArtifactCache", "EmbeddingTable", "make_key"]
