"""The VLM code's JSONL reader: the shared one (infir/jsonl.py), under the name its callers use."""

from infir.jsonl import iter_jsonl as iter_rows

__all__ = ["iter_rows"]
