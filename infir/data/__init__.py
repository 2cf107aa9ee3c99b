"""Tokenized data: a Llama-3-style BPE tokenizer, `infir tokenize` (.bin/.idx) and `infir mix` (blends).

Submodules are imported on use so `import infir.data` stays cheap (megatron-core is heavy to import).
"""

from __future__ import annotations

__all__ = ["tokenizer", "tokenize", "mix", "cli"]
