"""The Megatron-Bridge adapter's CPU-side parts: SFT staging, the generation-marked chat template, the
field map's coverage, the export target, and the one-line error on a machine without Bridge. The real
ConfigContainer is built and validated by the Bridge build check (tests/bridge, scripts/bridge_check.sh)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from infir.config import ConfigError, resolve
from infir.recipes import bridge, bridge_sft
from infir.recipes.config import TrainConfig
from infir.recipes.registry import get_recipe

MULTI_TURN = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "what is 2+2?"},
    {"role": "assistant", "content": "  it is 4.  "},
    {"role": "user", "content": "and the sun?"},
    {"role": "assistant", "content": "the sun was hot"},
]


def _sft(tmp_path, sft_jsonl, tokenizer_dir, *extra):
    over = [f"data.sft_files=[{sft_jsonl}]", f"checkpoint.dir={tmp_path / 'sft'}", f"data.tokenizer={tokenizer_dir}",
            "train.seq_length=256", "train.global_batch_size=4", "train.micro_batch_size=1"]  # fmt: skip
    return resolve(get_recipe("sft"), overrides=[*over, *extra])


def test_generation_template_marks_exactly_the_cpu_engines_trained_tokens(tokenizer_dir):
    """Bridge takes the loss mask from HF's assistant-token mask; it must equal our own, token for token."""
    from transformers import AutoTokenizer

    from infir.recipes.sft_data import encode

    plain = AutoTokenizer.from_pretrained(tokenizer_dir)
    marked = AutoTokenizer.from_pretrained(tokenizer_dir)
    marked.chat_template = bridge_sft.LLAMA3_GENERATION_TEMPLATE
    for messages in (MULTI_TURN, MULTI_TURN[1:3], [{"role": "user", "content": "hi"}, MULTI_TURN[2]]):
        assert marked.apply_chat_template(messages, tokenize=False) == plain.apply_chat_template(
            messages, tokenize=False
        )
        got = marked.apply_chat_template(
            messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        ids, trainable = encode(plain, messages)
        assert got["input_ids"] == ids.tolist()
        assert np.asarray(got["assistant_masks"], dtype=bool).tolist() == trainable.tolist()
        assert trainable.sum() > 0


def test_sft_staging_writes_chat_jsonl_and_the_marked_tokenizer(tmp_path, sft_jsonl, tokenizer_dir):
    from transformers import AutoTokenizer

    cfg = _sft(tmp_path, sft_jsonl, tokenizer_dir, "sft.packing=true")
    staged = bridge_sft.stage(cfg)
    root = bridge_sft.data_root(cfg)
    rows = [json.loads(x) for x in (root / "training.jsonl").open()]
    src = [json.loads(x) for x in sft_jsonl.open()]
    assert staged["records"] == len(rows) == len(src) == 24
    assert rows[1]["messages"] == [{"role": "user", "content": src[1]["prompt"]},
                                   {"role": "assistant", "content": src[1]["response"]}]  # fmt: skip
    assert rows[0]["messages"] == src[0]["messages"]
    tok = AutoTokenizer.from_pretrained(root / "tokenizer")
    assert "{% generation %}" in tok.chat_template
    # steps count packs (24 short chats in a few 256-token rows), x 4 epochs / global batch 4
    assert 1 <= staged["sequences"] < 24
    assert bridge_sft.train_iters(cfg, staged["sequences"]) == staged["sequences"] * 4 // 4
    unpacked = _sft(tmp_path, sft_jsonl, tokenizer_dir)  # the default: one chat per row (batch = samples)
    assert bridge_sft.stage(unpacked)["sequences"] == 24  # a changed setting restages


def test_sft_staging_runs_on_rank_0_only(tmp_path, sft_jsonl, tokenizer_dir, monkeypatch):
    cfg = _sft(tmp_path, sft_jsonl, tokenizer_dir)
    monkeypatch.setattr(bridge_sft, "WAIT_S", 0.5)
    monkeypatch.setenv("RANK", "3")
    with pytest.raises(RuntimeError, match="rank 3: rank 0 did not stage"):
        bridge_sft.stage(cfg)  # nothing staged yet: a non-zero rank waits, it never tokenizes
    assert not (bridge_sft.data_root(cfg) / "training.jsonl").exists()
    monkeypatch.setenv("RANK", "0")
    first = bridge_sft.stage(cfg)
    monkeypatch.setenv("RANK", "3")
    assert bridge_sft.stage(cfg) == first


def test_sft_staging_names_bad_records_and_missing_files(tmp_path, sft_jsonl, tokenizer_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "no response"}\n')
    with pytest.raises(ConfigError, match="bad.jsonl:1"):
        bridge_sft.stage(_sft(tmp_path, sft_jsonl, tokenizer_dir, f"data.sft_files=[{bad}]"))
    with pytest.raises(ConfigError, match="not found") as err:
        bridge_sft.stage(
            _sft(tmp_path, sft_jsonl, tokenizer_dir, f"data.sft_files=[{tmp_path / 'nope.jsonl'}]")
        )
    assert err.value.path == "data.sft_files"


def _leaves(cls, prefix: str = "") -> list[str]:
    import typing

    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        typ = hints[f.name]
        out += _leaves(typ, f"{prefix}{f.name}.") if dataclasses.is_dataclass(typ) else [prefix + f.name]
    return out


def test_every_train_config_field_is_mapped_or_says_why_not():
    leaves = _leaves(TrainConfig)
    assert len(leaves) > 40
    missing = [f for f in leaves if f not in bridge.FIELD_MAP and f not in bridge.NOT_IN_CONTAINER]
    assert not missing, (
        f"add these to recipes/bridge.py FIELD_MAP (or NOT_IN_CONTAINER with a reason): {missing}"
    )
    assert not (set(bridge.FIELD_MAP) | set(bridge.NOT_IN_CONTAINER)) - set(leaves)
    assert not set(bridge.FIELD_MAP) & set(bridge.NOT_IN_CONTAINER)


@pytest.mark.skipif(
    importlib.util.find_spec("megatron.bridge") is not None, reason="Bridge is installed here"
)
def test_megatron_recipe_without_bridge_is_one_line(tmp_path, tokenizer_dir):
    proc = subprocess.run(
        [sys.executable, "-m", "infir.cli", "train", "pretrain_900b_scratch", f"data.tokenizer={tokenizer_dir}",
         f"checkpoint.dir={tmp_path / 'run'}"],  # fmt: skip
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert (
        "NVIDIA container" in lines[0]
        and "*_tiny" in lines[0]
        and lines[0].startswith("config error: engine: pretrain_900b_scratch")
    )


def test_export_reference_is_the_recipe_architecture(tokenizer_dir, tmp_path):
    # the folder AutoBridge exports a from-scratch pretrain into: config + tokenizer, loadable by transformers
    from transformers import AutoConfig, AutoTokenizer

    cfg = resolve(get_recipe("pretrain_900b_scratch"), overrides=[f"data.tokenizer={tokenizer_dir}",
                                                           f"checkpoint.dir={tmp_path}"])  # fmt: skip
    ref = bridge.export_reference(cfg)
    config = AutoConfig.from_pretrained(ref, local_files_only=True)
    assert config.architectures == ["LlamaForCausalLM"]
    assert (config.num_hidden_layers, config.hidden_size, config.intermediate_size) == (16, 2048, 8192)
    assert (config.num_attention_heads, config.num_key_value_heads, config.vocab_size) == (32, 8, 128256)
    rope = config.rope_parameters  # transformers 5 keeps theta and the llama3 scaling together
    assert config.tie_word_embeddings and rope["rope_theta"] == 500000.0 and rope["rope_type"] == "llama3"
    assert len(AutoTokenizer.from_pretrained(ref)) == len(AutoTokenizer.from_pretrained(tokenizer_dir))
    assert bridge.export_dir(cfg) == Path(tmp_path) / "export"
    # a stage that starts from a HF checkpoint exports into that checkpoint's architecture
    sft = resolve(get_recipe("sft"), overrides=[f"init.path={tokenizer_dir}"])
    assert bridge.export_reference(sft) == tokenizer_dir
