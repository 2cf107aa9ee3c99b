"""Executors run one pipeline phase over shards: `local` (in-process) and `nemo` (NeMo Curator on Ray)."""
