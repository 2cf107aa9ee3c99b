"""SFT inputs for Megatron-Bridge: staged chat JSONL, a tokenizer whose template marks the loss, the step count.

Bridge's GPTSFTChatDataset reads one `dataset_root/training.jsonl` of `{"messages": [...]}` and, with
`use_hf_tokenizer_chat_template=True`, takes the loss mask from `apply_chat_template(...,
return_assistant_tokens_mask=True)`. That needs `{% generation %}` markers in the template, which neither
our Llama 3 template nor Meta's has, so Bridge refuses to start. We stage a copy of the tokenizer whose
template renders the same text with the assistant's content and `<|eot_id|>` inside the markers: exactly
the tokens the CPU engine trains on (recipes/sft_data.encode; the Bridge build check compares the two masks
token for token).

Everything here runs once, on global rank 0; the other torchrun ranks wait for rank 0's marker instead of
tokenizing the whole SFT set 64 times.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infir.config import ConfigError
from infir.recipes.config import TrainConfig

#: Llama 3's template with the trained span marked: same rendering as infir.data.tokenizer's
LLAMA3_GENERATION_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] | trim + '<|eot_id|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] | trim + '<|eot_id|>' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

WAIT_S = 3600  # how long a non-zero rank waits for rank 0 to stage the data


def data_root(cfg: TrainConfig) -> Path:
    return Path(cfg.checkpoint.dir).resolve() / "sft_data"


def source_tokenizer(cfg: TrainConfig) -> str:
    tok = cfg.data.tokenizer or (cfg.init.path if cfg.init.kind == "hf" else None)
    if not tok:
        raise ConfigError(
            "data.tokenizer", "SFT needs a tokenizer: set data.tokenizer or init.kind=hf init.path"
        )
    return tok


def _fingerprint(cfg: TrainConfig) -> str:
    """What the staged files depend on: inputs (path, size, mtime), tokenizer, length, packing, masking."""
    parts: list[Any] = [source_tokenizer(cfg), cfg.train.seq_length, cfg.sft.packing, cfg.sft.mask_prompt]
    for f in cfg.data.sft_files:
        st = Path(f).stat()
        parts.append([str(Path(f).resolve()), st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _once(root: Path, key: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `work` on rank 0 and record its result in root/staged.json; other ranks wait for the record."""
    marker = root / "staged.json"

    def current() -> dict[str, Any] | None:
        try:
            rec = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return rec if rec.get("key") == key else None

    if _rank() != 0:
        deadline = time.time() + WAIT_S
        while (rec := current()) is None:
            if time.time() > deadline:
                raise RuntimeError(f"rank {_rank()}: rank 0 did not stage {root} within {WAIT_S}s")
            time.sleep(2)
        return rec
    rec = current()
    if rec is None:
        root.mkdir(parents=True, exist_ok=True)
        rec = {"key": key, **work()}
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(rec))
        tmp.replace(marker)
    return rec


def _stage(cfg: TrainConfig, root: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from infir.recipes.sft_data import build_packs, read_records

    records = 0
    with (root / "training.jsonl.tmp").open("w") as out:
        for path in cfg.data.sft_files:
            for messages in read_records(path):
                out.write(json.dumps({"messages": messages}) + "\n")
                records += 1
    (root / "training.jsonl.tmp").replace(root / "training.jsonl")
    tokenizer = AutoTokenizer.from_pretrained(source_tokenizer(cfg), local_files_only=True)
    tokenizer.chat_template = LLAMA3_GENERATION_TEMPLATE
    tokenizer.save_pretrained(root / "tokenizer")
    sequences = records
    if cfg.sft.packing:
        sequences = len(
            build_packs(cfg.data.sft_files, tokenizer, cfg.train.seq_length, True, cfg.sft.mask_prompt)
        )
    return {"records": records, "sequences": sequences}


def stage(cfg: TrainConfig) -> dict[str, Any]:
    """Stage data.sft_files (once, rank 0) as <ckpt>/sft_data/{training.jsonl, tokenizer/}; returns
    {"records", "sequences"} (sequences = packs when packing is on). Bad records fail naming file:line."""
    missing = [f for f in cfg.data.sft_files if not Path(f).is_file()]
    if not cfg.data.sft_files or missing:
        raise ConfigError("data.sft_files", f"SFT data not found: {missing or 'no files given'}")
    root = data_root(cfg)
    return _once(root, _fingerprint(cfg), lambda: _stage(cfg, root))


def train_iters(cfg: TrainConfig, sequences: int | None) -> int | None:
    """SFT iterations = sequences x epochs / global batch (train.train_steps pins it)."""
    if cfg.train.train_steps:
        return cfg.train.train_steps
    if sequences is None:
        return None
    return max(1, sequences * (cfg.train.epochs or 1) // cfg.train.global_batch_size)
