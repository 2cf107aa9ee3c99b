"""SFT data: chat JSONL -> Llama 3 chat template -> (input, label) with prompt tokens masked -> packs.

Records are `{"messages": [{"role", "content"}, ...]}` or `{"prompt", "response"}`. Only assistant turns
carry loss: label -100 everywhere else (system/user text, headers, BOS). Packing fills `seq_length`
slots first-fit in file order; each pack keeps per-sample boundaries so the engine resets position ids
and uses a block-diagonal causal mask: no sample attends to another (checked in tests/recipes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infir.config import ConfigError
from infir.jsonl import iter_jsonl

IGNORE = -100


@dataclass
class Pack:
    input_ids: np.ndarray  # (L,) int64, padded with pad id
    labels: np.ndarray  # (L,) int64, -100 on prompt tokens and padding
    segment_ids: np.ndarray  # (L,) int64: sample number within the pack, -1 on padding
    position_ids: np.ndarray  # (L,) int64, restarting at 0 for each sample


def read_records(path: str | Path) -> list[list[dict[str, str]]]:
    """Chat messages per record; malformed lines raise ConfigError naming file:line."""
    out = []
    for where, rec in iter_jsonl(path):
        if isinstance(rec, dict) and "messages" in rec:
            msgs = rec["messages"]
            ok = isinstance(msgs, list) and all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in msgs
            )
            if not ok or not any(m["role"] == "assistant" for m in msgs):
                raise ConfigError(f"{where}:messages", "need [{role, content}, ...] with an assistant turn")
            turns = [m["role"] for m in msgs if m["role"] != "system"]
            if turns[0] != "user":
                raise ConfigError(
                    f"{where}:messages",
                    f"the first turn after any system prompt must be the user's, got {turns[0]!r}",
                )
        elif (
            isinstance(rec, dict)
            and isinstance(rec.get("prompt"), str)
            and isinstance(rec.get("response"), str)
        ):
            msgs = [
                {"role": "user", "content": rec["prompt"]},
                {"role": "assistant", "content": rec["response"]},
            ]
        else:
            raise ConfigError(where, "a record needs `messages` or string `prompt` and `response`")
        out.append(msgs)
    return out


def encode(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and a trainable mask (True on assistant content + its <|eot_id|>).

    Llama 3's template renders a conversation as the concatenation of its turns, so the text of
    messages[:i] plus the assistant header is a prefix of messages[:i+1]; the tokens between the two are
    the assistant's. Rendering to text and tokenizing once keeps ids identical to inference.
    """
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    trainable = np.zeros(len(ids), dtype=bool)
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        head = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
        upto = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if not full.startswith(upto) or not upto.startswith(head):
            raise ValueError("the chat template is not prefix-stable; cannot locate assistant turns")
        start = len(tokenizer(head, add_special_tokens=False)["input_ids"])
        end = len(tokenizer(upto, add_special_tokens=False)["input_ids"])
        trainable[start:end] = True
    return np.asarray(ids, dtype=np.int64), trainable


def to_example(ids: np.ndarray, trainable: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Next-token pairs, truncated to max_len: input ids[:-1], label ids[1:] where trainable else -100."""
    ids, trainable = ids[: max_len + 1], trainable[: max_len + 1]
    labels = np.where(trainable[1:], ids[1:], IGNORE)
    return ids[:-1], labels


def pack(
    examples: list[tuple[np.ndarray, np.ndarray]], seq_length: int, pad_id: int, packing: bool
) -> list[Pack]:
    """First-fit packing in order (deterministic). Without packing, one sample per slot."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i, (inp, _) in enumerate(examples):
        n = len(inp)
        slot = next((b for b in range(len(bins)) if room[b] >= n), None) if packing else None
        if slot is None:
            bins.append([])
            room.append(seq_length)
            slot = len(bins) - 1
        bins[slot].append(i)
        room[slot] -= n
    packs = []
    for members in bins:
        inp = np.full(seq_length, pad_id, dtype=np.int64)
        lab = np.full(seq_length, IGNORE, dtype=np.int64)
        seg = np.full(seq_length, -1, dtype=np.int64)
        pos = np.zeros(seq_length, dtype=np.int64)
        at = 0
        for k, i in enumerate(members):
            x, y = examples[i]
            n = len(x)
            inp[at : at + n], lab[at : at + n], seg[at : at + n] = x, y, k
            pos[at : at + n] = np.arange(n)
            at += n
        packs.append(Pack(inp, lab, seg, pos))
    return packs


def build_packs(
    files: list[str], tokenizer: Any, seq_length: int, packing: bool, mask_prompt: bool
) -> list[Pack]:
    if not files:
        raise ConfigError("data.sft_files", "an SFT recipe needs at least one JSONL file")
    examples = []
    for path in files:
        if not Path(path).is_file():
            raise ConfigError("data.sft_files", f"file not found: {path}")
        for msgs in read_records(path):
            ids, trainable = encode(tokenizer, msgs)
            if not mask_prompt:
                trainable[:] = True
            examples.append(to_example(ids, trainable, seq_length))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return pack(examples, seq_length, int(pad), packing)


def block_causal_mask(segment_ids: np.ndarray) -> np.ndarray:
    """(B, 1, L, L) bool: causal and within the same sample; padding attends to itself only."""
    seg = segment_ids
    L = seg.shape[-1]
    causal = np.tril(np.ones((L, L), dtype=bool))
    same = seg[:, :, None] == seg[:, None, :]
    mask = causal[None] & same
    mask |= np.eye(L, dtype=bool)[None]  # padding rows need one visible key (avoid NaN softmax)
    return mask[:, None]
