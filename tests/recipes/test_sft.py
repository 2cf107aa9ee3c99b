"""SFT data: Llama 3 chat template, prompt tokens carry no loss, packs do not see each other."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from infir.config import ConfigError, resolve
from infir.recipes.cpu_engine import build_model, micro_loss_sum, train
from infir.recipes.data_cpu import SFTStream
from infir.recipes.registry import get_recipe
from infir.recipes.sft_data import IGNORE, encode, read_records, to_example


def sft_cfg(tmp, tok, jsonl, *extra):
    return resolve(
        get_recipe("sft_tiny"),
        overrides=[f"data.tokenizer={tok}", f"data.sft_files=[{jsonl}]", f"checkpoint.dir={tmp}", *extra],
    )


def test_only_assistant_tokens_are_labelled(tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    msgs = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "what is 2+2?"},
        {"role": "assistant", "content": "it is 4."},
    ]
    ids, trainable = encode(tok, msgs)
    assert tok.decode(ids[:1]) == "<|begin_of_text|>"
    assert tok.decode(ids[trainable]) == "it is 4.<|eot_id|>"
    inp, labels = to_example(ids, trainable, 4096)
    kept = labels[labels != IGNORE]
    assert tok.decode(kept) == "it is 4.<|eot_id|>"
    assert (labels[: int(np.argmax(trainable)) - 1] == IGNORE).all()


def test_prompt_logits_do_not_change_the_loss(tmp_path, tokenizer_dir, sft_jsonl):
    cfg = sft_cfg(tmp_path, tokenizer_dir, sft_jsonl)
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    stream = SFTStream(cfg, tok, epochs=1)
    batch = stream.batch([0, 1])
    assert (batch["labels"] != IGNORE).any() and (batch["labels"] == IGNORE).any()
    model = build_model(cfg, tok).eval()

    class Perturbed(torch.nn.Module):
        """Adds large noise to the logits wherever the label is masked (prompt and padding)."""

        def forward(self, input_ids, **kw):
            logits = model(input_ids=input_ids, **kw).logits
            noise = torch.randn_like(logits) * 50
            return SimpleNamespace(logits=logits + noise * (batch["labels"] == IGNORE)[..., None])

    with torch.no_grad():
        base, n = micro_loss_sum(model, batch)
        moved, m = micro_loss_sum(Perturbed(), batch)
    assert n == m > 0 and torch.equal(base, moved)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_samples_do_not_attend_to_each_other(tmp_path, tokenizer_dir, sft_jsonl, attention):
    """Whatever attention implementation runs (eager adds the mask to the scores), a packed sample's logits
    are those it gets alone."""
    cfg = sft_cfg(tmp_path, tokenizer_dir, sft_jsonl, "sft.packing=true")
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    stream = SFTStream(cfg, tok, epochs=1)
    k = max(range(len(stream.packs)), key=lambda j: stream.packs[j].segment_ids.max())
    pack = stream.packs[k]
    assert pack.segment_ids.max() >= 1  # several samples share this pack
    model = build_model(cfg, tok).eval()
    model.set_attn_implementation(attention)
    assert model.config._attn_implementation == attention
    i = int(np.argmax(stream.order == k))
    batch = stream.batch([i])
    sel = pack.segment_ids == 1
    with torch.no_grad():
        packed = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[0, torch.from_numpy(sel)]
        alone = model(input_ids=torch.from_numpy(pack.input_ids[sel])[None]).logits[0]
    torch.testing.assert_close(packed, alone, rtol=1e-5, atol=1e-5)


def test_sft_tiny_trains_and_loss_falls(tmp_path, tokenizer_dir, sft_jsonl):
    cfg = sft_cfg(tmp_path, tokenizer_dir, sft_jsonl, "optim.lr=3e-3")
    result = train(cfg)
    assert result.steps >= 4
    assert result.losses[-1] < 0.8 * result.losses[0]
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == result.steps


def test_bad_sft_record_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{"messages": [{"role": "user", "content": "x"}]}\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2"):
        read_records(path)


def test_packed_position_ids_restart_at_zero_for_each_sample():
    from infir.recipes.sft_data import pack

    examples = [(np.arange(10, 10 + n), np.full(n, 1)) for n in (3, 4, 2)]
    (p,) = pack(examples, seq_length=12, pad_id=0, packing=True)
    assert p.position_ids.tolist() == [0, 1, 2, 0, 1, 2, 3, 0, 1, 0, 0, 0]
    assert p.segment_ids.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, -1, -1, -1]
