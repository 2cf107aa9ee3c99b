"""The Megatron-Bridge mapping as data on CPU; the real ConfigContainer where Bridge imports (GPU)."""

from __future__ import annotations

import importlib.util

import pytest

from infir.config import resolve
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


def test_sft_plan_uses_finetune_with_packing_and_warmup_ratio(sft_jsonl, tokenizer_dir):
    cfg = resolve(get_recipe("sft"), overrides=[f"data.sft_files=[{sft_jsonl}]", "parallel.dp=8",
                                                 f"init.path={tokenizer_dir}"])  # fmt: skip
    pl = plan(cfg)
    assert pl["entry"] == "finetune" and pl["model"]["cls"] == "AutoBridge.from_hf_pretrained"
    iters = 1  # 24 records x 4 epochs = 96 < one batch of 128: at least one step
    assert pl["train"]["kwargs"]["train_iters"] == iters
    assert pl["optimizer"]["kwargs"]["lr_warmup_iters"] == round(0.1 * iters)
    assert pl["dataset"]["packed_sequence_specs"] == {"packed_sequence_size": 4096}


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
