"""On-disk caches keyed by content: image content hashes and per-encoder feature vectors."""

from dfad_bench.cache.content import content_hash, content_hashes
from dfad_bench.cache.features import FeatureCache

__all__ = ["FeatureCache", "content_hash", "content_hashes"]
