"""InfiR-VL on the pinned Megatron-Bridge, on CPU: every stage's container builds and validates at DP 64,
the LLaVA bridge converts our checkpoint both ways exactly (Megatron logits = HF LLaVA's), the freeze flags
freeze what the stage says, and a batch from Bridge's own VLM data path runs through the model.

Runs in the Bridge venv (scripts/bridge_check.sh); skips in the main venv.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import types
from pathlib import Path

import pytest

if os.environ.get("INFIR_BRIDGE_CHECK"):
    import megatron.bridge  # noqa: F401
pytest.importorskip("megatron.bridge", reason="the Bridge build check runs in .venv-bridge")

import torch  # noqa: E402

from infir.config import resolve  # noqa: E402
from infir.recipes.registry import get_recipe  # noqa: E402
from infir.recipes.vlm import bridge as vlm_bridge  # noqa: E402
from infir.recipes.vlm.recipes import FREEZE, STAGE_NAMES  # noqa: E402

STAGES = [1, 2, 3]


@pytest.fixture(scope="module")
def llava(tmp_path_factory, tokenizer_dir) -> Path:
    """A tiny InfiR-VL starting checkpoint made the way a user makes the real one: `assemble`."""
    from transformers import (
        AutoTokenizer,
        LlamaConfig,
        LlamaForCausalLM,
        SiglipVisionConfig,
        SiglipVisionModel,
    )

    from infir.recipes.vlm.assemble import assemble

    root = tmp_path_factory.mktemp("vlm_parts")
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    llama = LlamaConfig(vocab_size=384, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip
    LlamaForCausalLM(llama).save_pretrained(root / "llm")
    tok.save_pretrained(root / "llm")
    # the tiny data's images are 32 px: 4 x 4 patches of 8
    siglip = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                image_size=32, patch_size=8)  # fmt: skip
    SiglipVisionModel(siglip).save_pretrained(root / "siglip")
    return assemble(root / "siglip", root / "llm", root / "InfiR-VL-init")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> dict[str, Path]:
    from infir.recipes.vlm.synthetic import make_tiny_data

    return make_tiny_data(tmp_path_factory.mktemp("vlm_data"), n=4)


def _stage(stage: int, llava: Path, tiny_data: dict[str, Path], tmp_path: Path):
    split = {1: "captions", 2: "sft1", 3: "sft2"}[stage]
    prev = []
    if stage > 1:  # what the previous stage leaves behind
        (tmp_path / STAGE_NAMES[stage - 1]).mkdir(exist_ok=True)
        prev = [f"checkpoint.load={tmp_path / STAGE_NAMES[stage - 1]}"]
    return resolve(get_recipe(STAGE_NAMES[stage]), overrides=[
        f"llm.init_path={llava}", f"data.train={tiny_data[split]}", f"checkpoint.save={tmp_path / STAGE_NAMES[stage]}",
        *prev,
    ])  # fmt: skip


@pytest.mark.parametrize("stage", STAGES)
def test_every_vlm_stage_builds_and_validates_at_64_gpus(stage, llava, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("WORLD_SIZE", raising=False)  # the stage's own DP (64) is the world size
    cfg = _stage(stage, llava, tiny_data, tmp_path)
    c = vlm_bridge.validated_container(cfg)
    assert c.data_parallel_size == 64 and c.train.global_batch_size % (c.train.micro_batch_size * 64) == 0
    assert type(c.model).__name__ == "InfirVLModelProvider"
    flags = (c.model.freeze_vision_model, c.model.freeze_vision_projection, c.model.freeze_language_model)
    assert flags == (FREEZE[stage].vision, FREEZE[stage].projector, FREEZE[stage].llm)
    for key, value in vlm_bridge.bridge_plan(cfg).items():  # every planned value landed, none was dropped
        obj = c
        for part in key.split("."):
            obj = getattr(obj, part)
        assert obj == value, key
    assert c.optimizer.weight_decay == c.scheduler.start_weight_decay == c.scheduler.end_weight_decay
    assert c.checkpoint.load == c.checkpoint.save and c.checkpoint.save.startswith("/")
    assert (c.checkpoint.pretrained_checkpoint is None) == (stage == 1)
    assert c.dataset.hf_processor_path == str(llava) and Path(c.dataset.train_data_path).is_file()


@pytest.fixture(scope="module")
def megatron_on_cpu():
    """A one-process gloo world with megatron-core's parallel state, and the three spots where megatron-core
    takes a CUDA/TE-only path on CPU: the block's TE CPU-offload context and attention's TE split (only
    because the TE *stub* imports, so megatron-core believes TE is there), and RoPE's move of its
    frequencies to `cuda.current_device()`. The model code under test is unchanged."""
    import megatron.core.tensor_parallel as tp
    import megatron.core.transformer.attention as attention
    import megatron.core.transformer.transformer_block as block
    import torch.distributed as dist
    from megatron.core import parallel_state

    patch = pytest.MonkeyPatch()
    patch.setenv("MASTER_ADDR", "127.0.0.1")
    patch.setenv("MASTER_PORT", "29517")
    patch.setattr(block, "get_cpu_offload_context", None)
    patch.setattr(attention, "SplitAlongDim", None)
    patch.setattr(tp, "get_cuda_rng_tracker", lambda: types.SimpleNamespace(fork=contextlib.nullcontext))
    patch.setattr(torch.cuda, "current_device", lambda: "cpu")
    dist.init_process_group("gloo", rank=0, world_size=1)
    parallel_state.initialize_model_parallel()
    yield
    parallel_state.destroy_model_parallel()
    dist.destroy_process_group()
    patch.undo()


def _cpu_model(provider, **freeze):
    """The provider's model as finetune() would build it, with megatron-core's local (non-TE) layers."""
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_decoder_block_spec

    provider.transformer_layer_spec = lambda cfg: get_gpt_decoder_block_spec(
        cfg, use_transformer_engine=False, normalization="RMSNorm"
    )
    for name in ("gradient_accumulation_fusion", "bias_activation_fusion", "masked_softmax_fusion",
                 "persist_layer_norm", "bias_dropout_fusion", "apply_rope_fusion", "bf16"):  # fmt: skip
        setattr(provider, name, False)
    provider.use_cpu_initialization, provider.params_dtype = True, torch.float32
    for name, value in freeze.items():
        setattr(provider, name, value)
    provider.finalize()
    return provider.provide()


@pytest.mark.parametrize("stage", STAGES)
def test_freeze_flags_freeze_what_the_stage_says(stage, llava, tiny_data, tmp_path, megatron_on_cpu):
    c = vlm_bridge.build_container(_stage(stage, llava, tiny_data, tmp_path))
    model = _cpu_model(c.model)
    want = {"vision_tower": FREEZE[stage].vision, "multi_modal_projector": FREEZE[stage].projector,
            "language_model": FREEZE[stage].llm}  # fmt: skip
    for part, frozen in want.items():
        grads = {
            p.requires_grad for n, p in getattr(model, part).named_parameters() if "post_layernorm" not in n
        }
        assert grads == {not frozen}, (stage, part, grads)
    # SigLIP's last norm is not on LLaVA's path (patches are read before it): always frozen
    assert not any(p.requires_grad for p in model.vision_tower.post_layernorm.parameters())
    assert {n.split(".")[0] for n, _ in model.named_parameters()} == set(want)  # no part left unaccounted


def _image_batch(llava: Path):
    from transformers import LlavaConfig

    cfg = LlavaConfig.from_pretrained(llava)
    patches = (cfg.vision_config.image_size // cfg.vision_config.patch_size) ** 2
    img = cfg.image_token_index
    ids = torch.tensor(
        [[1, 5, 6, *[img] * patches, 7, 8, 9, 10], [1, 11, *[img] * patches, 12, 13, 14, 15, 16]]
    )
    torch.manual_seed(0)
    return ids, torch.randn(2, 3, cfg.vision_config.image_size, cfg.vision_config.image_size)


def test_llava_bridge_gives_hf_logits_and_exports_the_same_weights(llava, megatron_on_cpu):
    from megatron.bridge import AutoBridge
    from safetensors.torch import load_file
    from transformers import LlavaForConditionalGeneration

    import infir.recipes.vlm.bridge_model  # noqa: F401

    bridge = AutoBridge.from_hf_pretrained(str(llava))
    model = _cpu_model(bridge.to_megatron_provider(load_weights=True))
    bridge.load_hf_weights([model])
    ids, pixels = _image_batch(llava)
    hf = LlavaForConditionalGeneration.from_pretrained(llava, dtype=torch.float32).eval()
    model.eval()
    causal = torch.triu(torch.ones(ids.shape[1], ids.shape[1], dtype=torch.bool), 1)[None, None]
    with torch.no_grad():
        want = hf(input_ids=ids, pixel_values=pixels).logits
        got, _ = model(input_ids=ids, position_ids=torch.arange(ids.shape[1]).expand_as(ids),
                       attention_mask=causal.expand(2, 1, -1, -1), pixel_values=pixels)  # fmt: skip
    assert got.shape[:2] == want.shape[:2]
    assert torch.allclose(got[..., : want.shape[-1]], want, atol=1e-5), (
        (got[..., : want.shape[-1]] - want).abs().max()
    )
    # and back: every tensor of the checkpoint comes out of the Megatron model unchanged
    original = load_file(str(llava / "model.safetensors"))
    exported = dict(bridge.export_hf_weights([model], cpu=True))
    assert set(exported) == set(original)
    for name, tensor in original.items():
        assert torch.equal(exported[name].to(tensor.dtype), tensor), name


def test_a_batch_from_bridges_vlm_data_path_trains_the_model(llava, tiny_data, tmp_path, megatron_on_cpu):
    """The staged JSONL read by Bridge's PreloadedVLMConversationProvider with the checkpoint's processor,
    collated by Bridge's collate, through the model; the loss mask covers the answers only."""
    from megatron.bridge.data.vlm_datasets.collate import default_collate_fn
    from transformers import AutoProcessor

    cfg = _stage(3, llava, tiny_data, tmp_path)
    c = vlm_bridge.build_container(cfg)
    processor = AutoProcessor.from_pretrained(llava)
    dataset = c.dataset._build_split_dataset(c.dataset.train_data_path, 4, processor)
    examples = [dataset[i] for i in range(2)]
    batch = default_collate_fn(examples, processor)
    patches = (processor.image_processor.size["height"] // processor.patch_size) ** 2
    ids = batch["input_ids"]
    assert int((ids == c.model.image_token_id).sum()) == 2 * patches  # one image per row, every patch a token
    answers = [processor.tokenizer.decode(row[mask.bool()]) for row, mask in
               zip(torch.roll(ids, -1, dims=1), batch["loss_mask"])]  # fmt: skip
    for row, answer in zip(examples, answers):
        assert row["conversation"][-1]["content"][-1]["text"] in answer and "user" not in answer
    from megatron.bridge import AutoBridge

    model = _cpu_model(c.model)  # load_weights=True: finetune() fills it from the checkpoint, as here
    AutoBridge.from_hf_pretrained(str(llava)).load_hf_weights([model])
    seq = ids.shape[1]
    causal = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1)[None, None].expand(ids.shape[0], 1, -1, -1)
    loss, mask = model(input_ids=ids, position_ids=batch["position_ids"], attention_mask=causal,
                       labels=batch["labels"].clamp(min=0), loss_mask=batch["loss_mask"],
                       **batch["visual_inputs"].normalized_for_model())  # fmt: skip
    total = (loss * mask).sum() / mask.sum()
    assert torch.isfinite(total) and total > 0
    total.backward()  # stage 3 trains everything: every part gets a gradient
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert no_grad == [], no_grad


def test_a_missing_or_wrong_checkpoint_is_one_clear_error(tmp_path, tiny_data):
    from infir.config import ConfigError

    cfg = dataclasses.replace(get_recipe("vlm_stage1_projector"), llm=dataclasses.replace(
        get_recipe("vlm_stage1_projector").llm, init_path=str(tmp_path / "nothing")))  # fmt: skip
    with pytest.raises(ConfigError, match="infir vlm assemble"):
        vlm_bridge.build_container(cfg)
