"""Reading tokenized data back with megatron-core: a tokenizer adapter and the blended GPT datasets.

megatron-core's GPTDatasetConfig wants a tokenizer object (eod, pad, vocab_size, unique_identifiers);
`HFTokenizer` adapts a local Hugging Face tokenizer folder to its legacy tokenizer interface, so both
engines build the same BlendedMegatronDatasetBuilder datasets from a blend YAML (`gpt_datasets`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*Transformer Engine and Apex.*")
    from megatron.core.datasets.megatron_tokenizer import MegatronLegacyTokenizer


class HFTokenizer(MegatronLegacyTokenizer):
    """megatron-core's tokenizer interface over a local HF tokenizer folder (EOD = the tokenizer's EOS)."""

    def __init__(self, path: str | Path):
        from transformers import AutoTokenizer

        super().__init__(str(Path(path).resolve()))
        self._tok = AutoTokenizer.from_pretrained(str(path))
        if self._tok.eos_token_id is None:
            raise ValueError(f"{path}: the tokenizer defines no eos_token")

    def tokenize(self, text: str) -> np.ndarray:
        return np.asarray(self._tok(text, add_special_tokens=False)["input_ids"], dtype=np.int64)

    def detokenize(self, ids: Any) -> str:
        return self._tok.decode(list(ids))

    @property
    def vocab(self) -> dict[str, int]:
        return self._tok.get_vocab()

    @property
    def inv_vocab(self) -> dict[int, str]:
        return {i: t for t, i in self._tok.get_vocab().items()}

    @property
    def vocab_size(self) -> int:
        return max(len(self._tok), self._tok.vocab_size)

    @property
    def eod(self) -> int:
        return int(self._tok.eos_token_id)

    @property
    def eos(self) -> int:
        return int(self._tok.eos_token_id)

    @property
    def bos(self) -> int | None:
        return self._tok.bos_token_id

    @property
    def pad(self) -> int:
        # Llama 3 has no pad in its base config; fall back to EOS like Megatron-Bridge does.
        return int(self._tok.pad_token_id if self._tok.pad_token_id is not None else self._tok.eos_token_id)


def gpt_datasets(
    blend: Any,
    tokenizer: str | Path | MegatronLegacyTokenizer,
    sequence_length: int,
    num_samples: list[int],
    cache_dir: str | Path | None = None,
    seed: int = 1234,
    split: str = "100,0,0",
) -> tuple[Any, Any, Any]:
    """(train, valid, test) megatron-core BlendedDatasets for a `Blend` (or a blend YAML path).

    `num_samples` = [train, valid, test] sequence counts, e.g. budget_tokens // sequence_length for train.
    `cache_dir` needs torch.distributed initialised (megatron-core 0.16's BlendedDataset calls get_rank()
    when it caches); without one, leave it None: each GPTDataset caches its indices under
    `<prefix folder>/cache/` (Megatron's default) and the small blend index is built in memory.
    """
    import torch
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    from infir.data.mix import Blend

    if cache_dir is not None and not torch.distributed.is_initialized():
        raise ValueError(
            "gpt_datasets(cache_dir=...) needs torch.distributed initialised; pass cache_dir=None"
        )
    if not isinstance(blend, Blend):
        blend = Blend.load(blend)
    tok = tokenizer if isinstance(tokenizer, MegatronLegacyTokenizer) else HFTokenizer(tokenizer)
    config = GPTDatasetConfig(
        random_seed=seed,
        sequence_length=sequence_length,
        blend=blend.megatron_blend(),
        split=split,
        tokenizer=tok,
        reset_position_ids=False,
        reset_attention_mask=False,
        eod_mask_loss=False,
        path_to_cache=str(cache_dir) if cache_dir is not None else None,
    )
    return tuple(BlendedMegatronDatasetBuilder(GPTDataset, num_samples, lambda: True, config).build())


_IDX_MAGIC = b"MMIDIDX\x00\x00"
_DTYPE_BYTES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 8, 7: 8, 8: 2}  # megatron-core DType codes -> item size


def check_prefix(prefix: str, where: str) -> int:
    """A Megatron prefix whose .idx and .bin are present and whole, or one ConfigError naming `where` and
    what is wrong (megatron-core itself fails on these with a traceback, or a crash in a destructor).
    Returns its token count. Only the 34-byte header is read into memory; the sequence lengths are summed
    through a memory map (a 1B-document index is 12 GB)."""
    from infir.config import ConfigError

    idx, bin_ = Path(prefix + ".idx"), Path(prefix + ".bin")
    for f in (idx, bin_):
        if not f.is_file():
            raise ConfigError(where, f"{f} not found (tokenize the source with `infir tokenize` first)")
    with idx.open("rb") as fh:
        head = fh.read(34)
    if len(head) < 34 or head[:9] != _IDX_MAGIC:
        raise ConfigError(where, f"{idx}: not a Megatron index (bad header): a truncated or foreign file")
    code = head[17]
    n_seq, n_doc = (int(x) for x in np.frombuffer(head, dtype=np.uint64, count=2, offset=18))
    need, have = 34 + n_seq * (4 + 8) + n_doc * 8, idx.stat().st_size
    if code not in _DTYPE_BYTES or have < need:
        raise ConfigError(where, f"{idx}: truncated ({have} of {need} bytes): re-run `infir tokenize`")
    lengths = np.memmap(idx, dtype=np.int32, mode="r", offset=34, shape=(n_seq,)) if n_seq else np.zeros(0, np.int32)
    tokens = int(lengths.sum(dtype=np.int64))
    del lengths  # closes the map before the caller goes on
    size = tokens * _DTYPE_BYTES[code]
    if bin_.stat().st_size != size:
        raise ConfigError(where, f"{bin_}: {bin_.stat().st_size} bytes where its index says {size}: truncated?")
    return tokens


def idx_token_count(prefix: str, where: str = "prefix") -> int:
    """Tokens in a Megatron prefix, from its .idx (checked whole). megatron-core's
    `IndexedDataset(prefix).sequence_lengths.sum()` on a temporary reads an mmap already closed: a segfault."""
    return check_prefix(prefix, where)
