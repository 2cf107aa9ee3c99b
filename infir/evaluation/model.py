"""A local HF causal LM for scoring: batched continuation log-likelihoods, token NLL, greedy generation.

Everything is batched with right padding and an attention mask: one forward pass per batch, log-probs
gathered with `torch.gather`, masks select the scored positions. Nothing reaches a hub (local paths only).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


@dataclass
class LoadedLM:
    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    max_len: int

    @property
    def prefix_id(self) -> int:
        """Token prepended to every sequence so the first real token is scored (BOS, else EOS)."""
        tok = self.tokenizer
        pid = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if pid is None:
            raise ValueError("the tokenizer has neither a BOS nor an EOS token to start sequences with")
        return pid

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]


WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")


def check_checkpoint(path: str | Path) -> None:
    """A Hugging Face checkpoint folder with config, weights and tokenizer, or one ConfigError saying
    what is missing (a half-finished export, a Megatron checkpoint, a typo) before anything loads."""
    from infir.config import ConfigError

    path = Path(path)
    if not path.is_dir():
        raise ConfigError("--model", f"{path}: no such folder (give a Hugging Face checkpoint folder)")
    if not (path / "config.json").is_file():
        raise ConfigError("--model", f"{path}: not a Hugging Face checkpoint (no config.json)")
    if not any((path / w).is_file() for w in WEIGHTS):
        raise ConfigError(
            "--model", f"{path}: no weights ({' / '.join(WEIGHTS[::2])}): an unfinished export?"
        )
    if not any((path / t).is_file() for t in TOKENIZER):
        raise ConfigError("--model", f"{path}: no tokenizer files ({', '.join(TOKENIZER)})")


def load_lm(path: str | Path, device: str | None = None, dtype: str = "auto") -> LoadedLM:
    """Load an HF checkpoint dir (AutoModelForCausalLM + AutoTokenizer) for evaluation."""
    check_checkpoint(path)
    path = Path(path)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    else:
        torch_dtype = getattr(torch, dtype)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype).to(dev).eval()
    max_len = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
    return LoadedLM(model=model, tokenizer=tokenizer, device=dev, max_len=max_len)


def _batches(order: Sequence[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(order), size):
        yield list(order[i : i + size])


@torch.inference_mode()
def score_sequences(lm: LoadedLM, seqs: Sequence[list[int]], n_scored: Sequence[int], batch_size: int = 8):
    """For each token sequence, the log-probs of its last `n_scored[i]` tokens, each given all before it.

    Returns a list of 1-D float tensors (CPU) and a list of bools: whether every scored token is the
    model's greedy choice. Sequences are sorted by length so padding stays small.
    """
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    out_lp: list[torch.Tensor | None] = [None] * len(seqs)
    out_greedy: list[bool] = [False] * len(seqs)
    for idx in _batches(order, batch_size):
        width = max(len(seqs[i]) for i in idx) - 1
        ids = torch.zeros((len(idx), width + 1), dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            ids[row, : len(seqs[i])] = torch.tensor(seqs[i])
            mask[row, : len(seqs[i]) - 1] = 1
        inputs, targets = ids[:, :-1].to(lm.device), ids[:, 1:].to(lm.device)
        logits = lm.model(input_ids=inputs, attention_mask=mask.to(lm.device)).logits.float()
        logp = torch.log_softmax(logits, dim=-1)
        tok_lp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1).cpu()
        greedy = (logits.argmax(-1) == targets).cpu()
        for row, i in enumerate(idx):
            end = len(seqs[i]) - 1
            start = end - n_scored[i]
            out_lp[i] = tok_lp[row, start:end]
            out_greedy[i] = bool(greedy[row, start:end].all())
    return out_lp, out_greedy


def encode_pair(lm: LoadedLM, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Context and continuation token ids the way lm-evaluation-harness splits them: trailing whitespace
    of the context moves onto the continuation, the whole string is encoded once, and the continuation is
    what follows the context's own encoding. Encoding the two apart differs wherever a token spans the
    boundary, and then scores a tokenization the model never sees."""
    stripped = context.rstrip()
    continuation = context[len(stripped) :] + continuation
    if not stripped:
        return [], lm.encode(continuation)
    whole = lm.encode(stripped + continuation)
    ctx = lm.encode(stripped)
    return whole[: len(ctx)], whole[len(ctx) :]


def loglikelihood(
    lm: LoadedLM, requests: Sequence[tuple[str, str]], batch_size: int = 8
) -> list[tuple[float, int, bool]]:
    """Sum log p(continuation | context) for each (context, continuation) pair.

    Returns (summed log-prob, continuation tokens, greedy) per pair. Context trailing whitespace is moved
    onto the continuation (as lm-evaluation-harness does) so "Answer:" + " Paris" tokenizes naturally.
    Over-long pairs are truncated from the left of the context to the model's max length.
    """
    seqs, n_scored = [], []
    for context, cont in requests:
        ctx_ids, cont_ids = encode_pair(lm, context, cont)
        if not cont_ids:
            raise ValueError(f"continuation {cont!r} encodes to no tokens")
        seq = ([lm.prefix_id] + ctx_ids + cont_ids)[-(lm.max_len + 1) :]
        seqs.append(seq)
        n_scored.append(min(len(cont_ids), len(seq) - 1))
    lps, greedy = score_sequences(lm, seqs, n_scored, batch_size)
    return [(float(lp.sum()), len(lp), g) for lp, g in zip(lps, greedy)]


def doc_nll(lm: LoadedLM, texts: Sequence[str], seq_len: int, batch_size: int = 8) -> list[tuple[float, int]]:
    """(summed NLL, scored tokens) per text, every token of the text scored.

    A text is encoded once, prefixed with BOS/EOS, and cut into consecutive windows of `seq_len` predicted
    tokens; each window sees only its own tokens as context (no overlap), so cost is linear in length.
    """
    seq_len = min(seq_len, lm.max_len)
    windows: list[list[int]] = []
    owner: list[int] = []
    # one batched call into the Rust tokenizer for all texts
    encoded = lm.tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []
    for d, doc_ids in enumerate(encoded):
        ids = [lm.prefix_id] + doc_ids
        for start in range(0, len(ids) - 1, seq_len):
            windows.append(ids[start : start + seq_len + 1])
            owner.append(d)
    lps, _ = score_sequences(lm, windows, [len(w) - 1 for w in windows], batch_size)
    sums = [0.0] * len(texts)
    counts = [0] * len(texts)
    for d, lp in zip(owner, lps):
        sums[d] -= float(lp.sum())
        counts[d] += len(lp)
    return list(zip(sums, counts))


@torch.inference_mode()
def generate(
    lm: LoadedLM,
    prompts: Sequence[str],
    max_new_tokens: int = 256,
    stop: Sequence[str] = (),
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    templated: bool = False,
    batch_size: int = 8,
) -> list[str]:
    """Completions, `batch_size` sequences per generate call, left padded, cut at the first stop sequence:
    greedy at temperature 0, else sampled (seeded, so a rerun gives the same samples). `templated`: the
    prompts are already rendered by the chat template, which wrote its own BOS."""
    tok = lm.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else lm.prefix_id
    sampling = (
        {"do_sample": False}
        if temperature <= 0
        else {"do_sample": True, "temperature": temperature, "top_p": top_p}
    )
    if temperature > 0:
        torch.manual_seed(seed)
    outs: list[str] = []
    for i in range(0, len(prompts), batch_size):
        chunk = [([] if templated else [lm.prefix_id]) + lm.encode(p) for p in prompts[i : i + batch_size]]
        width = max(len(c) for c in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, c in enumerate(chunk):
            ids[row, width - len(c) :] = torch.tensor(c)
            mask[row, width - len(c) :] = 1
        gen = lm.model.generate(
            input_ids=ids.to(lm.device),
            attention_mask=mask.to(lm.device),
            max_new_tokens=max_new_tokens,
            pad_token_id=pad,
            **sampling,
        )
        for row in range(len(chunk)):
            text = tok.decode(gen[row, width:], skip_special_tokens=True)
            cut = min((text.find(s) for s in stop if s in text), default=len(text))
            outs.append(text[:cut])
    return outs


def nll_summary(total_nll: float, tokens: int) -> dict[str, float]:
    per_tok = total_nll / max(tokens, 1)
    return {"nll_per_token": per_tok, "perplexity": math.exp(min(per_tok, 50.0)), "tokens": tokens}
