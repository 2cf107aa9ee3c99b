"""The three InfiR-VL stages (docs/PAPER.md section 5) and their tiny CPU twins.

A stage base sets everything once; each stage states only what differs: which parts train (the freeze
schedule), the data, the LR and batch. The paper gives no hyper-parameters for the VLM, so the LRs and
batches are the LLaVA-1.5 defaults (projector pretrain: LR 1e-3, batch 256; SFT: LR 2e-5, batch 128),
said here rather than presented as the paper's.
"""

from __future__ import annotations

import dataclasses

from infir.recipes.registry import register_recipe
from infir.recipes.vlm.config import (
    CheckpointConfig,
    DataConfig,
    FreezeConfig,
    LLMConfig,
    OptimConfig,
    ProjectorConfig,
    VisionConfig,
    VLMTrainConfig,
)

RUNS = "runs/vlm"
TINY_RUNS = "runs/vlm_tiny"

# freeze schedule, exactly docs/PAPER.md section 5: True = frozen
FREEZE = {
    1: FreezeConfig(vision=True, projector=False, llm=True),  # pretrain: projector only, on captions
    2: FreezeConfig(vision=False, projector=False, llm=True),  # SFT-1: ViT + projector, LLM frozen
    3: FreezeConfig(vision=False, projector=False, llm=False),  # SFT-2: everything
}
STAGE_NAMES = {1: "vlm_stage1_projector", 2: "vlm_stage2_vit", 3: "vlm_stage3_full"}
STAGE_DATA = {1: "captions.jsonl", 2: "sft1.jsonl", 3: "sft2.jsonl"}


def _stage(stage: int, lr: float, global_batch_size: int, steps: int) -> VLMTrainConfig:
    """Full-scale stage base: SigLIP-So400m (384 px, patch 14) + 2-layer MLP + InfiR-1B-Base."""
    prev = f"{RUNS}/{STAGE_NAMES[stage - 1]}" if stage > 1 else None
    return VLMTrainConfig(
        name=STAGE_NAMES[stage],
        stage=stage,
        engine="megatron",
        vision=VisionConfig(path="models/siglip-so400m-patch14-384"),
        projector=ProjectorConfig(hidden=2048),
        # the LLaVA checkpoint `infir vlm assemble --vision models/siglip-so400m-patch14-384
        # --llm models/InfiR-1B-Base --output models/InfiR-VL-init` builds (InfiR-1B-Base keeps the
        # Llama-3.2-1B architecture and tokenizer, per its model card); every stage reads its processor
        llm=LLMConfig(init_path="models/InfiR-VL-init"),
        freeze=dataclasses.replace(FREEZE[stage]),
        data=DataConfig(train=f"data/vlm/{STAGE_DATA[stage]}", seq_length=4096),
        optim=OptimConfig(lr=lr, min_lr=lr / 10, warmup_ratio=0.03),
        steps=steps,
        global_batch_size=global_batch_size,
        # 64 GPUs (8 nodes x 8): one micro batch of global/64 per GPU and step (256 -> 4, 128 -> 2)
        micro_batch_size=global_batch_size // 64,
        dp=64,
        checkpoint=CheckpointConfig(save=f"{RUNS}/{STAGE_NAMES[stage]}", load=prev),
    )


@register_recipe()
def vlm_stage1_projector() -> VLMTrainConfig:
    """InfiR-VL stage 1: captions train the MLP projector only (SigLIP and the LLM frozen)."""
    return _stage(1, lr=1e-3, global_batch_size=256, steps=2200)


@register_recipe()
def vlm_stage2_vit() -> VLMTrainConfig:
    """InfiR-VL stage 2 (SFT-1): ViT + projector on text-rendering, GUI and caption data (LLM frozen)."""
    return _stage(2, lr=2e-5, global_batch_size=128, steps=5000)


@register_recipe()
def vlm_stage3_full() -> VLMTrainConfig:
    """InfiR-VL stage 3 (SFT-2): everything unfrozen, on the hardest GUI-trajectory and math samples."""
    return _stage(3, lr=1e-5, global_batch_size=128, steps=3000)


def tiny(cfg: VLMTrainConfig, runs: str = TINY_RUNS) -> VLMTrainConfig:
    """The CPU twin of a stage: same freeze schedule and chaining, a tiny ViT and a tiny Llama."""
    stage = cfg.stage
    prev = f"{runs}/{STAGE_NAMES[stage - 1]}_tiny" if stage > 1 else None
    return dataclasses.replace(
        cfg,
        name=f"{cfg.name}_tiny",
        engine="cpu",
        vision=VisionConfig(encoder="tiny-vit", image_size=32, patch=8, hidden=32, layers=2, heads=2),
        projector=ProjectorConfig(hidden=64),
        # byte-level vocabulary (256 bytes + pad/bos/eos), see model_cpu.ByteTokenizer
        llm=LLMConfig(hidden=48, layers=2, heads=4, kv_heads=2, ffn=96, vocab=259),
        data=DataConfig(train=f"{runs}/data/{STAGE_DATA[stage]}", max_text_tokens=48, seq_length=64),
        optim=dataclasses.replace(cfg.optim, lr=3e-3, min_lr=3e-4, warmup_ratio=0.0),
        steps=4,
        global_batch_size=4,
        micro_batch_size=2,
        dp=1,
        checkpoint=CheckpointConfig(save=f"{runs}/{STAGE_NAMES[stage]}_tiny", load=prev),
    )


@register_recipe()
def vlm_stage1_projector_tiny() -> VLMTrainConfig:
    """vlm_stage1_projector at toy scale on CPU (tiny ViT + tiny Llama, same freeze schedule)."""
    return tiny(vlm_stage1_projector())


@register_recipe()
def vlm_stage2_vit_tiny() -> VLMTrainConfig:
    """vlm_stage2_vit at toy scale on CPU, from stage 1's tiny checkpoint."""
    return tiny(vlm_stage2_vit())


@register_recipe()
def vlm_stage3_full_tiny() -> VLMTrainConfig:
    """vlm_stage3_full at toy scale on CPU, from stage 2's tiny checkpoint."""
    return tiny(vlm_stage3_full())


TINY_STAGES = ["vlm_stage1_projector_tiny", "vlm_stage2_vit_tiny", "vlm_stage3_full_tiny"]
