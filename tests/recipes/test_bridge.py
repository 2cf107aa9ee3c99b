"""The Megatron-Bridge mapping as data on CPU; the real ConfigContainer where Bridge imports (GPU)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from infir.config import ConfigError, resolve
from infir.recipes import bridge
from infir.recipes.bridge import plan
from infir.recipes.registry import get_recipe


def test_pretrain_plan_maps_every_recipe_field(blend_yaml, tokenizer_dir):
    cfg = resolve(
        get_recipe("pretrain_900b"),
        overrides=[
            f"data.blend={blend_yaml}",
            f"data.tokenizer={tokenizer_dir}",
            "parallel.dp=64",
            "precision=fp8",
        ],
    )
    pl = plan(cfg)
    assert pl["entry"] == "pretrain" and pl["world_size"] == 64
    assert pl["model"]["cls"] == "Llama32ModelProvider1B"
    mk = pl["model"]["kwargs"]
    assert (mk["num_layers"], mk["hidden_size"], mk["ffn_hidden_size"], mk["num_query_groups"]) == (
        16,
        2048,
        8192,
        8,
    )
    assert (
        mk["seq_length"] == 4096
        and mk["rotary_base"] == 500000.0
        and mk["share_embeddings_and_output_weights"]
    )
    assert pl["train"]["kwargs"] == {"train_iters": 107_288, "global_batch_size": 2048, "micro_batch_size": 4,
                                     "eval_interval": 2000, "eval_iters": 0}  # fmt: skip
    ok = pl["optimizer"]["kwargs"]
    assert (ok["max_lr"], ok["min_lr"], ok["lr_warmup_iters"], ok["lr_decay_iters"]) == (
        1.4e-3,
        1.4e-4,
        2000,
        107_288,
    )
    assert pl["ddp"]["kwargs"]["use_distributed_optimizer"] and pl["ddp"]["kwargs"]["overlap_grad_reduce"]
    assert pl["mixed_precision"] == "bf16_with_fp8_current_scaling_mixed"
    prefixes, weights = pl["dataset"]["kwargs"]["blend"]
    assert [p.rsplit("/", 1)[1] for p in prefixes] == ["web_text_document", "math_text_document"]
    assert weights == [0.7, 0.3]


def test_sft_plan_uses_finetune_with_packing_and_warmup_ratio(sft_jsonl, tokenizer_dir, tmp_path):
    base = [f"data.sft_files=[{sft_jsonl}]", "parallel.dp=1", f"init.path={tokenizer_dir}",
            f"checkpoint.dir={tmp_path / 'sft'}", "train.seq_length=256", "train.global_batch_size=4", "train.micro_batch_size=1"]  # fmt: skip
    cfg = resolve(get_recipe("sft"), overrides=base)
    pl = plan(cfg)
    assert pl["entry"] == "finetune" and pl["model"]["cls"] == "AutoBridge.from_hf_pretrained"
    # steps count packed sequences, not records: 24 short chats pack into a few 256-token rows
    packs = bridge._sft_sequences(cfg)
    records = bridge._sft_sequences(resolve(cfg, overrides=["sft.packing=false"]))
    assert records == 24 and 1 <= packs < records
    iters = packs * 4 // 4  # 4 epochs, global batch 4
    assert pl["train"]["kwargs"]["train_iters"] == iters
    assert pl["optimizer"]["kwargs"]["lr_warmup_iters"] == round(0.1 * iters)
    assert pl["dataset"]["packed_sequence_specs"] == {"packed_sequence_size": 256}
    kw = pl["dataset"]["kwargs"]
    assert kw["dataset_kwargs"] == {
        "chat": True,
        "use_hf_tokenizer_chat_template": True,
        "answer_only_loss": True,
    }
    assert kw["dataset_root"] == str(tmp_path / "sft" / "sft_data")


def test_sft_data_staged_as_bridge_chat_jsonl(sft_jsonl, tmp_path):
    cfg = resolve(get_recipe("sft"), overrides=[f"data.sft_files=[{sft_jsonl},{sft_jsonl}]",
                                                 f"checkpoint.dir={tmp_path}"])  # fmt: skip
    root = bridge.stage_sft_data(cfg)
    rows = [json.loads(x) for x in (root / "training.jsonl").open()]
    src = [json.loads(x) for x in sft_jsonl.open()]
    assert len(rows) == 2 * len(src)  # both files, nothing dropped
    assert rows[1]["messages"] == [{"role": "user", "content": src[1]["prompt"]},
                                   {"role": "assistant", "content": src[1]["response"]}]  # fmt: skip
    assert rows[0]["messages"] == src[0]["messages"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "no response"}\n')
    with pytest.raises(ConfigError, match="bad.jsonl:1"):
        bridge.stage_sft_data(resolve(cfg, overrides=[f"data.sft_files=[{bad}]"]))


@pytest.mark.gpu
@pytest.mark.skipif(
    importlib.util.find_spec("megatron.bridge") is None, reason="needs Megatron-Bridge (container)"
)
def test_real_config_container_builds(blend_yaml, tokenizer_dir):
    from infir.recipes.bridge import build_container

    cfg = resolve(
        get_recipe("pretrain_900b"), overrides=[f"data.blend={blend_yaml}", f"data.tokenizer={tokenizer_dir}"]
    )
    container = build_container(cfg)
    assert container.train.global_batch_size == 2048 and container.optimizer.lr == 1.4e-3
    assert container.model.num_layers == 16 and container.ddp.use_distributed_optimizer


def test_export_reference_is_the_recipe_architecture(tokenizer_dir, tmp_path):
    # the folder AutoBridge exports a from-scratch pretrain into: config + tokenizer, loadable by transformers
    from transformers import AutoConfig, AutoTokenizer

    cfg = resolve(get_recipe("pretrain_900b"), overrides=[f"data.tokenizer={tokenizer_dir}",
                                                           f"checkpoint.dir={tmp_path}"])  # fmt: skip
    ref = bridge.export_reference(cfg)
    config = AutoConfig.from_pretrained(ref, local_files_only=True)
    assert config.architectures == ["LlamaForCausalLM"]
    assert (config.num_hidden_layers, config.hidden_size, config.intermediate_size) == (16, 2048, 8192)
    assert (config.num_attention_heads, config.num_key_value_heads, config.vocab_size) == (32, 8, 128256)
    rope = config.rope_parameters  # transformers 5 keeps theta and the llama3 scaling together
    assert config.tie_word_embeddings and rope["rope_theta"] == 500000.0 and rope["rope_type"] == "llama3"
    assert len(AutoTokenizer.from_pretrained(ref)) == len(AutoTokenizer.from_pretrained(tokenizer_dir))
    assert bridge.export_dir(cfg) == tmp_path / "export"
    # a stage that starts from a HF checkpoint exports into that checkpoint's architecture
    sft = resolve(get_recipe("sft"), overrides=[f"init.path={tokenizer_dir}"])
    assert bridge.export_reference(sft) == tokenizer_dir
