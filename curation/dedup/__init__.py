"""Corpus-level deduplication steps: exact (normalised-text hash) and MinHash near-dedup.

Both are `GlobalStep`s: `fit(shards, workdir)` sees every shard and writes per-shard files plus
hash-range partitions under `workdir` (so memory stays bounded and a rerun skips finished shards);
`filter(doc)` then drops every copy except the survivor, which is the first by (shard name, position).
"""

from infir.curation.dedup.store import batch_ngrams, batch_words, doc_key, shard_order

__all__ = ["batch_ngrams", "batch_words", "doc_key", "shard_order"]
