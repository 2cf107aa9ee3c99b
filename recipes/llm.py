"""InfiR-1B recipes: one small function per stage; a stage base sets defaults once, variants state diffs.

Paper facts (docs/PAPER.md section 4): Llama-3.2-1B architecture; LR 1.4e-3 throughout pretraining, global
batch 2048 sequences, seq 4096 for pretrain (900B tokens) and anneal (40B tokens continuing the pretrain,
the LR decaying: warmup-stable-decay across the two stages); SFT with the
Llama 3 chat template, prompt tokens masked, 4 epochs, LR 2e-5, batch 128, cosine, warmup ratio 0.1,
max length 4096. Where the paper is silent the values are Megatron-Bridge's Llama-3 recipe defaults:
warmup 2000 iterations, min LR = LR/10, weight decay 0.1, Adam betas (0.9, 0.95), eps 1e-5, grad clip 1.0.

The `*_tiny` variants keep every rule but shrink the model and batch so they train on CPU in seconds.
"""

from __future__ import annotations

import dataclasses

from infir.recipes.config import (
    CheckpointSection,
    InitConfig,
    ModelConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    TrainSection,
)
from infir.recipes.registry import register_recipe

SILENT = "warmup/min_lr/weight_decay/betas/eps/clip: Megatron-Bridge Llama-3 defaults (paper silent)"


def _pretrain_base(name: str, tokens: int) -> TrainConfig:
    return TrainConfig(
        name=name,
        stage="pretrain",
        engine="megatron",
        precision="bf16",
        model=ModelConfig(),
        optim=OptimConfig(lr=1.4e-3, min_lr=1.4e-4),
        # the paper: LR 1.4e-3 "throughout the training process"; the decay is the anneal's
        schedule=ScheduleConfig(style="constant", warmup_steps=2000),
        train=TrainSection(global_batch_size=2048, micro_batch_size=4, seq_length=4096, train_tokens=tokens),
        checkpoint=CheckpointSection(dir=f"runs/{name}", save_interval=1000),
        notes=SILENT,
    )


def _sft_base(name: str) -> TrainConfig:
    cfg = _pretrain_base(name, 1)
    return dataclasses.replace(
        cfg,
        stage="sft",
        optim=OptimConfig(lr=2e-5, min_lr=0.0),
        schedule=ScheduleConfig(style="cosine", warmup_steps=None, warmup_ratio=0.1),
        train=TrainSection(global_batch_size=128, micro_batch_size=1, seq_length=4096, epochs=4),
        # InfiR-1B-Instruct starts from the annealed base model.
        init=InitConfig(kind="hf", path="runs/anneal_40b/export"),
        notes="SFT: paper values (chat template, masked prompt, 4 epochs, 2e-5, batch 128, cosine, warmup 0.1)",
    )


def _tiny(cfg: TrainConfig, name: str, **train: int) -> TrainConfig:
    """Same rules at toy scale: a 2-layer Llama, tiny batches, CPU engine, fp32."""
    model = ModelConfig(
        num_layers=2,
        hidden_size=64,
        ffn_hidden_size=256,
        num_attention_heads=4,
        num_query_groups=2,
        vocab_size=512,
    )
    steps = dict(global_batch_size=8, micro_batch_size=4, seq_length=64, log_interval=1)
    steps.update(train)
    sched = cfg.schedule
    if sched.warmup_steps:
        sched = dataclasses.replace(sched, warmup_steps=2)
    return dataclasses.replace(
        cfg,
        name=name,
        engine="cpu",
        precision="fp32",
        model=model,
        schedule=sched,
        train=TrainSection(**steps),
        parallel=dataclasses.replace(cfg.parallel, tp=1, pp=1, cp=1, dp=1),  # the CPU engine is one process
        checkpoint=dataclasses.replace(cfg.checkpoint, dir=f"runs/{name}", save_interval=5),
    )


@register_recipe()
def pretrain_900b() -> TrainConfig:
    """900B tokens, 1 epoch, continuing Llama-3.2-1B (InfiR-1B-Base's model card): init.path = its local copy."""
    cfg = _pretrain_base("pretrain_900b", 900_000_000_000)
    return dataclasses.replace(cfg, init=InitConfig(kind="hf", path="models/Llama-3.2-1B"))


@register_recipe()
def pretrain_900b_scratch() -> TrainConfig:
    """900B tokens, 1 epoch, from random init with the Llama-3.2-1B architecture (the paper's text)."""
    return _pretrain_base("pretrain_900b_scratch", 900_000_000_000)


@register_recipe()
def anneal_40b() -> TrainConfig:
    """40B annealing tokens continuing the pretrain run (weights and Adam state), no warmup, LR decayed from
    1.4e-3 to min_lr over the anneal (warmup-stable-decay's decay; linear by default, ours)."""
    cfg = _pretrain_base("anneal_40b", 40_000_000_000)
    return dataclasses.replace(
        cfg,
        stage="anneal",
        schedule=ScheduleConfig(style="wsd", warmup_steps=0, decay_style="linear"),
        init=InitConfig(kind="checkpoint", path="runs/pretrain_900b"),
    )


@register_recipe()
def sft() -> TrainConfig:
    """Instruction SFT: Llama 3 chat template, prompt masked, 4 epochs, 2e-5, batch 128 samples, cosine."""
    return _sft_base("sft")


@register_recipe()
def sft_long_cot() -> TrainConfig:
    """Long-CoT SFT on NuminaMath-QwQ-CoT (the 2M pool or 200K subset of `infir curate select-long-cot`):
    the SFT rules (the paper gives no separate hyperparameters). QwQ traces are far longer than 4,096
    tokens: 16,384 (ours) with context parallelism 2 on the GPU engine; set train.seq_length to the p99
    trace length that select-long-cot prints for your copy of the data."""
    cfg = _sft_base("sft_long_cot")
    return dataclasses.replace(
        cfg,
        init=InitConfig(kind="hf", path="runs/sft/export"),
        train=dataclasses.replace(cfg.train, seq_length=16384),
        parallel=dataclasses.replace(cfg.parallel, cp=2),
    )


@register_recipe()
def pretrain_tiny() -> TrainConfig:
    """pretrain_900b at toy scale on the CPU engine (30 steps of 8 x 64 tokens)."""
    return _tiny(pretrain_900b_scratch(), "pretrain_tiny", train_steps=30)


@register_recipe()
def anneal_tiny() -> TrainConfig:
    """anneal_40b at toy scale, continuing pretrain_tiny's last checkpoint."""
    cfg = _tiny(anneal_40b(), "anneal_tiny", train_steps=10)
    return dataclasses.replace(cfg, init=InitConfig(kind="checkpoint", path="runs/pretrain_tiny"))


@register_recipe()
def sft_tiny() -> TrainConfig:
    """sft at toy scale (random init unless init.kind=hf init.path=...)."""
    cfg = _tiny(sft(), "sft_tiny", global_batch_size=4, micro_batch_size=2, seq_length=128, epochs=4)
    return dataclasses.replace(cfg, init=InitConfig(kind="scratch"))


@register_recipe()
def sft_long_cot_tiny() -> TrainConfig:
    """sft_long_cot at toy scale with longer packs (256 tokens)."""
    cfg = _tiny(
        sft_long_cot(), "sft_long_cot_tiny", global_batch_size=4, micro_batch_size=2, seq_length=256, epochs=1
    )
    return dataclasses.replace(cfg, init=InitConfig(kind="scratch"))
