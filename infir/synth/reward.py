"""A sequence-classification reward model (HF format, a local path): one scalar per (prompt, response).

The pair is rendered with the reward model's chat template as a user turn and an assistant turn (how
reward models such as Skywork-Reward or Qwen2.5-Math-RM are trained), or as `prompt\n\nresponse` when the
tokenizer has none. Batched with right padding; HF's classification head reads the last non-pad token,
so the config's pad_token_id must be set (it is copied from the tokenizer when missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from infir.config import ConfigError
from infir.synth.engines import EngineConfig


class RewardModel:
    def __init__(self, cfg: EngineConfig) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        if not (Path(cfg.model) / "config.json").is_file():
            raise ConfigError(
                "engines.model", f"{cfg.model}: not a Hugging Face checkpoint folder (no config.json)"
            )
        labels = AutoConfig.from_pretrained(cfg.model).num_labels
        if labels != 1:
            raise ConfigError("engines.model", f"{cfg.model}: a reward model has one output (num_labels 1), "
                                               f"this one has {labels}")  # fmt: skip
        self.cfg = cfg
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device.type == "cuda" and cfg.dtype == "auto" else torch.float32
        self.tok = AutoTokenizer.from_pretrained(cfg.model)
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = AutoModelForSequenceClassification.from_pretrained(cfg.model, dtype=dtype)
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tok.pad_token_id
        self.model.to(self.device).eval()
        self.max_len = int(getattr(self.model.config, "max_position_embeddings", 4096) or 4096)

    def render(self, prompt: str, response: str) -> str:
        if getattr(self.tok, "chat_template", None):
            msgs = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
            return self.tok.apply_chat_template(msgs, tokenize=False)
        return f"{prompt}\n\n{response}"

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        import torch

        texts = [self.render(p, r) for p, r in pairs]
        scores: list[float] = []
        self.tok.padding_side = "right"
        for i in range(0, len(texts), self.cfg.batch_size):
            # the template wrote its own BOS; a plain pair gets the tokenizer's special tokens
            enc = self.tok(texts[i : i + self.cfg.batch_size], return_tensors="pt", padding=True,
                           truncation=True, max_length=self.max_len,
                           add_special_tokens=not getattr(self.tok, "chat_template", None))  # fmt: skip
            with torch.no_grad():
                logits = self.model(**{k: v.to(self.device) for k, v in enc.items()}).logits
            scores += logits[:, 0].float().cpu().tolist()
        return scores
