"""The GPU engine: a recipe mapped onto Megatron-Bridge's `ConfigContainer`, run with pretrain()/finetune().

Megatron-Bridge needs Python 3.12, CUDA and Transformer Engine (DESIGN.md), so it is imported only inside
`build_container`/`train`, which run in NVIDIA's container. The mapping itself is `plan(cfg)`: plain data
naming each Bridge class and its keyword arguments, tested on CPU. The names follow Bridge's own
llama32_1b recipe (recipes/llama/llama32_1b.py): Llama32ModelProvider1B, TrainingConfig,
distributed_fused_adam_with_cosine_annealing -> (OptimizerConfig, SchedulerConfig),
DistributedDataParallelConfig, GPTDatasetConfig, CheckpointConfig, TokenizerConfig, RNGConfig, LoggerConfig
and a mixed-precision recipe name (bf16_mixed / bf16_with_fp8_current_scaling_mixed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from infir.config import ConfigError
from infir.recipes.config import TrainConfig

PRECISION = {"bf16": "bf16_mixed", "fp8": "bf16_with_fp8_current_scaling_mixed", "fp32": "fp32"}


def _blend(cfg: TrainConfig) -> list[list[Any]] | None:
    if not cfg.data.blend:
        return None
    from infir.data.mix import Blend

    return [list(x) for x in Blend.load(cfg.data.blend).megatron_blend()]


def _sft_sequences(cfg: TrainConfig) -> int | None:
    """Training sequences in one SFT epoch: packs when packing is on (counted with the CPU engine's
    packer and the recipe's tokenizer), else records. None while the data files do not exist yet."""
    files = [Path(f) for f in cfg.data.sft_files]
    if not files or not all(f.is_file() for f in files):
        return None
    tok_path = cfg.data.tokenizer or (cfg.init.path if cfg.init.kind == "hf" else None)
    if not cfg.sft.packing or not tok_path or not Path(tok_path).is_dir():
        return sum(sum(1 for line in f.open() if line.strip()) for f in files)
    from transformers import AutoTokenizer

    from infir.recipes.sft_data import build_packs

    tokenizer = AutoTokenizer.from_pretrained(tok_path, local_files_only=True)
    return len(build_packs(cfg.data.sft_files, tokenizer, cfg.train.seq_length, True, cfg.sft.mask_prompt))


def _sft_steps(cfg: TrainConfig) -> int | None:
    """SFT iterations = sequences x epochs / global batch (train.train_steps pins it)."""
    if cfg.train.train_steps:
        return cfg.train.train_steps
    seqs = _sft_sequences(cfg)
    return None if seqs is None else max(1, seqs * (cfg.train.epochs or 1) // cfg.train.global_batch_size)


def sft_data_root(cfg: TrainConfig) -> Path:
    return Path(cfg.checkpoint.dir) / "sft_data"


def stage_sft_data(cfg: TrainConfig) -> Path:
    """Write every data.sft_files record as Bridge's chat JSONL ({"messages": [...]}) in
    <checkpoint.dir>/sft_data/training.jsonl: Bridge reads one dataset_root, not a list of files, and our
    {prompt, response} records become a user/assistant pair. Bad records fail naming file:line."""
    from infir.recipes.sft_data import read_records

    root = sft_data_root(cfg)
    root.mkdir(parents=True, exist_ok=True)
    # every torchrun rank stages the same file: a per-process temp name keeps the atomic replace race-free
    tmp = root / f"training.jsonl.{os.getpid()}.tmp"
    with tmp.open("w") as out:
        for path in cfg.data.sft_files:
            for messages in read_records(path):
                out.write(json.dumps({"messages": messages}) + "\n")
    tmp.replace(root / "training.jsonl")
    return root


def plan(cfg: TrainConfig) -> dict[str, Any]:
    """The ConfigContainer as data: {section: {"cls": Bridge name, "kwargs": {...}}} + entry point."""
    m, t, p, o, s = cfg.model, cfg.train, cfg.parallel, cfg.optim, cfg.schedule
    iters = t.steps() if cfg.stage != "sft" else _sft_steps(cfg)
    warmup = s.warmup_steps if s.warmup_steps is not None else round((s.warmup_ratio or 0) * (iters or 0))
    model = {
        "num_layers": m.num_layers,
        "hidden_size": m.hidden_size,
        "ffn_hidden_size": m.ffn_hidden_size,
        "num_attention_heads": m.num_attention_heads,
        "num_query_groups": m.num_query_groups,
        "share_embeddings_and_output_weights": m.tie_embeddings,
        "rotary_base": m.rope_theta,
        "seq_length": t.seq_length,
        "tensor_model_parallel_size": p.tp,
        "pipeline_model_parallel_size": p.pp,
        "context_parallel_size": p.cp,
        "sequence_parallel": p.sequence_parallel,
    }
    if cfg.init.kind == "hf":  # Bridge converts the HF checkpoint (AutoBridge) and overrides parallelism
        model_section = {"cls": "AutoBridge.from_hf_pretrained", "path": cfg.init.path, "kwargs": model}
    else:
        model_section = {"cls": "Llama32ModelProvider1B", "kwargs": model}
    ckpt_dir = str(Path(cfg.checkpoint.dir) / "checkpoints")
    out: dict[str, Any] = {
        "entry": "finetune" if cfg.stage == "sft" else "pretrain",
        "world_size": p.world_size,
        "model": model_section,
        "train": {
            "cls": "TrainingConfig",
            "kwargs": {"train_iters": iters, "global_batch_size": t.global_batch_size,
                       "micro_batch_size": t.micro_batch_size, "eval_interval": 2000, "eval_iters": 0},
        },  # fmt: skip
        "optimizer": {
            "cls": "distributed_fused_adam_with_cosine_annealing",
            "kwargs": {"lr_warmup_iters": warmup, "lr_decay_iters": iters, "max_lr": o.lr, "min_lr": o.min_lr,
                       "adam_beta1": o.adam_beta1, "adam_beta2": o.adam_beta2, "adam_eps": o.adam_eps,
                       "weight_decay": o.weight_decay, "clip_grad": o.clip_grad},
        },  # fmt: skip
        "ddp": {
            "cls": "DistributedDataParallelConfig",
            "kwargs": {"use_distributed_optimizer": p.use_distributed_optimizer,
                       "overlap_grad_reduce": p.overlap_grad_reduce, "overlap_param_gather": p.overlap_param_gather,
                       "grad_reduce_in_fp32": True, "average_in_collective": True, "check_for_nan_in_grad": True},
        },  # fmt: skip
        "mixed_precision": PRECISION[cfg.precision],
        "tokenizer": {"cls": "TokenizerConfig",
                      "kwargs": {"tokenizer_type": "HuggingFaceTokenizer", "tokenizer_model": cfg.data.tokenizer}},
        "checkpoint": {
            "cls": "CheckpointConfig",
            "kwargs": {"save": ckpt_dir, "load": ckpt_dir if cfg.checkpoint.resume else None,
                       "save_interval": cfg.checkpoint.save_interval, "ckpt_format": "torch_dist",
                       "fully_parallel_save": True},
        },  # fmt: skip
        "rng": {"cls": "RNGConfig", "kwargs": {"seed": cfg.seed}},
        "logger": {"cls": "LoggerConfig", "kwargs": {"log_interval": t.log_interval,
                                                      "tensorboard_dir": str(Path(cfg.checkpoint.dir) / "tb")}},
    }  # fmt: skip
    if cfg.stage == "sft":
        packed = {"packed_sequence_size": t.seq_length} if cfg.sft.packing else None
        # Bridge's GPTSFTChatDataset: the tokenizer's own chat template (ours is Llama 3's, written by
        # infir.data.tokenizer / shipped with the HF checkpoint), loss on assistant turns only
        chat = {"chat": True, "use_hf_tokenizer_chat_template": True, "answer_only_loss": cfg.sft.mask_prompt}
        out["dataset"] = {"cls": "FinetuningDatasetConfig",
                          "kwargs": {"dataset_root": str(sft_data_root(cfg)), "seq_length": t.seq_length,
                                     "seed": cfg.seed, "dataset_kwargs": chat, "do_validation": False,
                                     "do_test": False},
                          "packed_sequence_specs": packed}  # fmt: skip
    else:
        out["dataset"] = {
            "cls": "GPTDatasetConfig",
            "kwargs": {"random_seed": cfg.seed, "sequence_length": t.seq_length, "blend": _blend(cfg),
                       "split": cfg.data.split, "reset_attention_mask": False, "reset_position_ids": False,
                       "eod_mask_loss": False, "dataloader_type": "single", "num_workers": 8,
                       "data_sharding": True},
        }  # fmt: skip
    return out


def build_container(cfg: TrainConfig) -> Any:
    """The real ConfigContainer (inside the NVIDIA container: needs megatron.bridge)."""
    from megatron.bridge.recipes.utils.optimizer_utils import distributed_fused_adam_with_cosine_annealing
    from megatron.bridge.training import config as bc
    from megatron.core.distributed import DistributedDataParallelConfig

    pl = plan(cfg)
    if pl["train"]["kwargs"]["train_iters"] is None:
        raise ConfigError(
            "train.train_steps", "SFT on Megatron needs train.train_steps or existing data.sft_files"
        )
    if pl["model"]["cls"] == "Llama32ModelProvider1B":
        from megatron.bridge.models.llama import Llama32ModelProvider1B

        model = Llama32ModelProvider1B(**pl["model"]["kwargs"])
    else:
        from megatron.bridge import AutoBridge

        model = AutoBridge.from_hf_pretrained(pl["model"]["path"]).to_megatron_provider(load_weights=True)
        for key, value in pl["model"]["kwargs"].items():
            setattr(model, key, value)
    optimizer, scheduler = distributed_fused_adam_with_cosine_annealing(**pl["optimizer"]["kwargs"])
    if pl["entry"] == "finetune":
        stage_sft_data(cfg)
        specs = None
        if pl["dataset"]["packed_sequence_specs"]:
            from megatron.bridge.data.datasets.packed_sequence import PackedSequenceSpecs

            specs = PackedSequenceSpecs(**pl["dataset"]["packed_sequence_specs"])
        dataset = bc.FinetuningDatasetConfig(**pl["dataset"]["kwargs"], packed_sequence_specs=specs)
    else:
        kwargs = dict(pl["dataset"]["kwargs"])
        kwargs["blend"] = tuple(kwargs["blend"]) if kwargs["blend"] else None  # Bridge: (prefixes, weights)
        dataset = bc.GPTDatasetConfig(**kwargs)
    return bc.ConfigContainer(
        model=model,
        train=bc.TrainingConfig(**pl["train"]["kwargs"]),
        optimizer=optimizer,
        scheduler=scheduler,
        ddp=DistributedDataParallelConfig(**pl["ddp"]["kwargs"]),
        dataset=dataset,
        logger=bc.LoggerConfig(**pl["logger"]["kwargs"]),
        tokenizer=bc.TokenizerConfig(**pl["tokenizer"]["kwargs"]),
        checkpoint=bc.CheckpointConfig(**pl["checkpoint"]["kwargs"]),
        rng=bc.RNGConfig(**pl["rng"]["kwargs"]),
        mixed_precision=pl["mixed_precision"],
    )


def export_dir(cfg: TrainConfig) -> Path:
    """Where a stage's final weights land in HF format: the next stage's init.path (recipes/llm.py)."""
    return Path(cfg.checkpoint.dir) / "export"


def export_reference(cfg: TrainConfig) -> Path:
    """The HF model AutoBridge exports into: the init checkpoint when the stage started from one, else
    a folder with the recipe's LlamaConfig (the CPU engine's own mapping) and the tokenizer, no weights."""
    if cfg.init.kind == "hf":
        return Path(cfg.init.path)
    from transformers import AutoTokenizer

    from infir.recipes.cpu_engine import hf_config

    if not cfg.data.tokenizer:
        raise ConfigError("data.tokenizer", "exporting a from-scratch run needs the tokenizer folder")
    ref = Path(cfg.checkpoint.dir) / "hf_reference"
    tokenizer = AutoTokenizer.from_pretrained(cfg.data.tokenizer, local_files_only=True)
    config = hf_config(cfg, tokenizer)
    config.architectures = ["LlamaForCausalLM"]
    config.save_pretrained(ref)
    tokenizer.save_pretrained(ref)
    return ref


def export_hf(cfg: TrainConfig) -> Path:
    """Megatron torch_dist checkpoint -> HF safetensors in export_dir (run once, on rank 0)."""
    from megatron.bridge import AutoBridge

    out = export_dir(cfg)
    bridge = AutoBridge.from_hf_pretrained(str(export_reference(cfg)))
    bridge.export_ckpt(megatron_path=str(Path(cfg.checkpoint.dir) / "checkpoints"), hf_path=str(out))
    return out


def train(cfg: TrainConfig) -> Any:
    """Run under torchrun inside the NVIDIA container (launcher/ renders that), then export the final
    weights to HF format so anneal/SFT/eval (which take HF folders) can start from them."""
    import torch.distributed as dist
    from megatron.bridge.training.gpt_step import forward_step

    container = build_container(cfg)
    if cfg.stage == "sft":
        from megatron.bridge.training.finetune import finetune

        result = finetune(container, forward_step)
    else:
        from megatron.bridge.training.pretrain import pretrain

        result = pretrain(container, forward_step)
    if not dist.is_initialized() or dist.get_rank() == 0:
        export_hf(cfg)
    if dist.is_initialized():
        dist.barrier()
    return result
