"""The GPU engine: a recipe built into Megatron-Bridge's `ConfigContainer` and run with pretrain()/finetune().

Megatron-Bridge needs Python 3.12, CUDA and Transformer Engine, so it is imported only in the functions
below, which run inside NVIDIA's container, and in the Bridge build check (scripts/bridge_check.sh), which
builds and validates every recipe's container against the pinned Bridge on a CPU machine. The pinned
versions are containers/bridge-pins.txt. How each recipe field reaches Bridge is `FIELD_MAP`; the build
check fails when a TrainConfig field is in neither `FIELD_MAP` nor `NOT_IN_CONTAINER`.

Choices that differ from Bridge's own llama recipes, and why:
- the model comes from `AutoBridge.from_hf_config(<our LlamaConfig>)` (from scratch) or the HF checkpoint
  (`init.kind=hf`), so the architecture is the recipe's, rope scaling and norm eps included;
- OptimizerConfig/SchedulerConfig are built directly: Bridge's `distributed_fused_adam_with_cosine_annealing`
  hard-codes the scheduler's start/end weight decay to 0.033, which megatron-core writes into every
  parameter group, so weight decay 0.1 would silently train at 0.033.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from infir.config import ConfigError
from infir.recipes import bridge_sft
from infir.recipes.config import TrainConfig

#: schedule.style -> megatron-core's lr_decay_style, and the WSD decay shapes -> lr_wsd_decay_style
SCHEDULE_STYLE = {"cosine": "cosine", "linear": "linear", "constant": "constant", "wsd": "WSD"}
WSD_DECAY_STYLE = {"linear": "linear", "cosine": "cosine", "1-sqrt": "minus_sqrt"}

#: precision -> Bridge mixed-precision recipe name (fp32: none at all)
PRECISION = {"bf16": "bf16_mixed", "fp8": "bf16_with_fp8_current_scaling_mixed", "fp32": None}

#: TrainConfig field -> the ConfigContainer attributes it sets (checked by the Bridge build check)
FIELD_MAP: dict[str, tuple[str, ...]] = {
    "model.num_layers": ("model.num_layers",),
    "model.hidden_size": ("model.hidden_size",),
    "model.ffn_hidden_size": ("model.ffn_hidden_size",),
    "model.num_attention_heads": ("model.num_attention_heads",),
    "model.num_query_groups": ("model.num_query_groups",),
    "model.vocab_size": ("model.vocab_size",),
    "model.tie_embeddings": ("model.share_embeddings_and_output_weights",),
    "model.rope_theta": ("model.rotary_base",),
    "model.rope_scaling": ("model.rope_scaling", "model.rope_scaling_factor"),
    "model.max_position_embeddings": ("model.seq_length",),  # Megatron sizes RoPE by the training length
    "model.norm_eps": ("model.layernorm_epsilon",),
    "data.blend": ("dataset.blend",),
    "data.tokenizer": ("tokenizer.tokenizer_model",),
    "data.sft_files": ("dataset.dataset_root",),
    "data.split": ("dataset.split",),
    "optim.lr": ("optimizer.lr",),
    "optim.min_lr": ("optimizer.min_lr",),
    "optim.weight_decay": (
        "optimizer.weight_decay",
        "scheduler.start_weight_decay",
        "scheduler.end_weight_decay",
    ),
    "optim.adam_beta1": ("optimizer.adam_beta1",),
    "optim.adam_beta2": ("optimizer.adam_beta2",),
    "optim.adam_eps": ("optimizer.adam_eps",),
    "optim.clip_grad": ("optimizer.clip_grad",),
    "schedule.style": ("scheduler.lr_decay_style",),  # through SCHEDULE_STYLE
    "schedule.warmup_steps": ("scheduler.lr_warmup_iters",),
    "schedule.warmup_ratio": ("scheduler.lr_warmup_iters",),
    "schedule.decay_style": ("scheduler.lr_wsd_decay_style",),
    "schedule.decay_steps": ("scheduler.lr_wsd_decay_iters",),
    "train.global_batch_size": ("train.global_batch_size",),
    "train.micro_batch_size": ("train.micro_batch_size",),
    "train.seq_length": ("model.seq_length", "dataset.seq_length"),
    "train.train_tokens": ("train.train_iters", "scheduler.lr_decay_iters"),
    "train.train_steps": ("train.train_iters", "scheduler.lr_decay_iters"),
    "train.epochs": ("train.train_iters", "scheduler.lr_decay_iters"),
    "train.log_interval": ("logger.log_interval",),
    "parallel.tp": ("model.tensor_model_parallel_size",),
    "parallel.pp": ("model.pipeline_model_parallel_size",),
    "parallel.cp": ("model.context_parallel_size",),
    "parallel.dp": ("data_parallel_size",),  # world size / (tp*pp*cp), computed by validate()
    "parallel.sequence_parallel": ("model.sequence_parallel",),
    "parallel.use_distributed_optimizer": (
        "ddp.use_distributed_optimizer",
        "optimizer.use_distributed_optimizer",
    ),
    "parallel.overlap_grad_reduce": ("ddp.overlap_grad_reduce",),
    "parallel.overlap_param_gather": ("ddp.overlap_param_gather", "optimizer.overlap_param_gather"),
    "checkpoint.dir": ("checkpoint.save", "logger.tensorboard_dir"),
    "checkpoint.save_interval": ("checkpoint.save_interval",),
    "checkpoint.resume": ("checkpoint.load",),
    "checkpoint.keep_last": ("checkpoint.most_recent_k",),
    "sft.chat_template": (
        "tokenizer.tokenizer_model",
    ),  # the staged copy with the generation-marked template
    "sft.mask_prompt": ("dataset.dataset_kwargs",),
    "sft.packing": ("dataset.packed_sequence_specs",),
    "precision": ("mixed_precision", "optimizer.bf16"),
    "seed": ("rng.seed", "dataset.random_seed|seed"),  # GPT: random_seed, finetuning: seed
}

#: fields that choose what runs rather than set a Bridge value
NOT_IN_CONTAINER: dict[str, str] = {
    "name": "the run's name: logs and the launcher's job name",
    "notes": "documentation",
    "stage": "chooses pretrain() or finetune()",
    "engine": "chooses this module (recipes/engines.py)",
    "init.kind": "chooses the provider: AutoBridge.from_hf_config (scratch, checkpoint) or from_hf_pretrained "
    "(hf); checkpoint also sets checkpoint.pretrained_checkpoint",
    "init.path": "the HF checkpoint the provider loads from (hf), or the earlier run's dir (checkpoint)",
}


def _abs(path: str | os.PathLike) -> str:
    # the container's workdir is throwaway: a relative path would never be found again on resume
    return str(Path(path).resolve())


def _blend(cfg: TrainConfig) -> tuple[list[str], list[float]] | None:
    if not cfg.data.blend:
        return None
    from infir.data.mix import Blend

    prefixes, weights = Blend.load(cfg.data.blend).megatron_blend()
    return list(prefixes), list(weights)


def _model_provider(cfg: TrainConfig) -> Any:
    from megatron.bridge import AutoBridge

    m, p = cfg.model, cfg.parallel
    if cfg.init.kind == "hf":
        provider = AutoBridge.from_hf_pretrained(_abs(cfg.init.path)).to_megatron_provider(load_weights=True)
    else:
        from transformers import AutoTokenizer

        from infir.recipes.cpu_engine import hf_config

        if not cfg.data.tokenizer:
            raise ConfigError("data.tokenizer", "a from-scratch Megatron run needs the tokenizer folder")
        tokenizer = AutoTokenizer.from_pretrained(cfg.data.tokenizer, local_files_only=True)
        hf = hf_config(cfg, tokenizer)
        hf.architectures = ["LlamaForCausalLM"]
        provider = AutoBridge.from_hf_config(hf).to_megatron_provider(load_weights=False)
        provider.layernorm_epsilon = m.norm_eps
    provider.seq_length = cfg.train.seq_length
    provider.tensor_model_parallel_size = p.tp
    provider.pipeline_model_parallel_size = p.pp
    provider.context_parallel_size = p.cp
    provider.sequence_parallel = p.sequence_parallel
    return provider


def _train_iters(cfg: TrainConfig, sft: dict[str, Any] | None) -> int:
    iters = bridge_sft.train_iters(cfg, sft["sequences"] if sft else None) if cfg.stage == "sft" else None
    iters = iters or cfg.train.steps()
    if not iters:
        raise ConfigError("train.train_steps", "cannot size the run: set train.train_steps")
    return iters


# long: one ConfigContainer with every Bridge field mapped in one place, so the mapping reads as a table
def build_container(cfg: TrainConfig) -> Any:
    """The real ConfigContainer (needs megatron.bridge). SFT stages its data first (rank 0 only)."""
    from megatron.bridge.training import config as bc

    o, t, s, p = cfg.optim, cfg.train, cfg.schedule, cfg.parallel
    sft = bridge_sft.stage(cfg) if cfg.stage == "sft" else None
    iters = _train_iters(cfg, sft)
    warmup = s.warmup_steps if s.warmup_steps is not None else round((s.warmup_ratio or 0) * iters)
    optimizer = bc.OptimizerConfig(
        optimizer="adam", lr=o.lr, min_lr=o.min_lr, weight_decay=o.weight_decay, adam_beta1=o.adam_beta1,
        adam_beta2=o.adam_beta2, adam_eps=o.adam_eps, clip_grad=o.clip_grad, bf16=cfg.precision != "fp32",
        fp16=False, use_distributed_optimizer=p.use_distributed_optimizer,
        overlap_param_gather=p.overlap_param_gather,
    )  # fmt: skip
    wsd = s.style == "wsd"
    scheduler = bc.SchedulerConfig(
        lr_decay_style=SCHEDULE_STYLE[s.style], lr_decay_iters=iters, lr_warmup_iters=warmup, lr_warmup_init=0.0,
        lr_wsd_decay_style=WSD_DECAY_STYLE[s.decay_style],
        lr_wsd_decay_iters=(s.decay_steps or iters - warmup) if wsd else None,
        start_weight_decay=o.weight_decay, end_weight_decay=o.weight_decay, weight_decay_incr_style="constant",
        override_opt_param_scheduler=True,
    )  # fmt: skip
    ckpt = _abs(Path(cfg.checkpoint.dir) / "checkpoints")
    if sft is not None:
        root = bridge_sft.data_root(cfg)
        tokenizer_model = str(root / "tokenizer")
        specs = None
        if cfg.sft.packing:
            from megatron.bridge.data.datasets.packed_sequence import PackedSequenceSpecs

            specs = PackedSequenceSpecs(packed_sequence_size=t.seq_length, tokenizer_model_name="infir")
        chat = {"chat": True, "use_hf_tokenizer_chat_template": True, "answer_only_loss": cfg.sft.mask_prompt}
        dataset: Any = bc.FinetuningDatasetConfig(
            dataset_root=str(root), seq_length=t.seq_length, seed=cfg.seed, dataset_kwargs=chat,
            packed_sequence_specs=specs, do_validation=False, do_test=False,
        )  # fmt: skip
    else:
        tokenizer_model = _abs(cfg.data.tokenizer) if cfg.data.tokenizer else None
        dataset = bc.GPTDatasetConfig(
            seq_length=t.seq_length, random_seed=cfg.seed, blend=_blend(cfg), split=cfg.data.split,
            reset_attention_mask=False, reset_position_ids=False, eod_mask_loss=False,
            dataloader_type="single", num_workers=8, data_sharding=True,
        )  # fmt: skip
    sft_cp = cfg.stage == "sft" and p.cp > 1
    provider = _model_provider(cfg)
    provider.calculate_per_token_loss = sft_cp or provider.calculate_per_token_loss
    return bc.ConfigContainer(
        model=provider,
        train=bc.TrainingConfig(train_iters=iters, global_batch_size=t.global_batch_size,
                                micro_batch_size=t.micro_batch_size),
        # no held-out split in the recipes (data.split 100,0,0): the eval NLL comes from `infir eval`
        validation=bc.ValidationConfig(eval_iters=0, eval_interval=None),
        optimizer=optimizer,
        scheduler=scheduler,
        ddp=bc.DistributedDataParallelConfig(
            use_distributed_optimizer=p.use_distributed_optimizer, overlap_grad_reduce=p.overlap_grad_reduce,
            overlap_param_gather=p.overlap_param_gather, grad_reduce_in_fp32=True,
            # SFT with context parallelism: a CP rank can hold only masked (prompt) tokens, so the loss is
            # summed per token and averaged outside the collective (Bridge refuses anything else)
            average_in_collective=not sft_cp, check_for_nan_in_grad=True,
        ),
        dataset=dataset,
        logger=bc.LoggerConfig(log_interval=t.log_interval, tensorboard_dir=_abs(Path(cfg.checkpoint.dir) / "tb")),
        tokenizer=bc.TokenizerConfig(tokenizer_type="HuggingFaceTokenizer", tokenizer_model=tokenizer_model),
        checkpoint=bc.CheckpointConfig(
            save=ckpt, load=ckpt if cfg.checkpoint.resume else None, save_interval=cfg.checkpoint.save_interval,
            most_recent_k=cfg.checkpoint.keep_last, ckpt_format="torch_dist", fully_parallel_save=True,
            # init.kind=checkpoint: the earlier run's weights. Bridge 0.5 loads optimizer state only together
            # with the iteration and sample counters (finetune=False), which would start the anneal's data at
            # the pretrain's offset; so on this engine the anneal starts fresh Adam moments (docs/TRAINING.md)
            pretrained_checkpoint=(
                _abs(Path(cfg.init.path) / "checkpoints") if cfg.init.kind == "checkpoint" else None
            ),
        ),
        rng=bc.RNGConfig(seed=cfg.seed),
        mixed_precision=PRECISION[cfg.precision],
    )  # fmt: skip


def validated_container(cfg: TrainConfig) -> Any:
    """build_container + what pretrain()/finetune() do first (resolve mixed precision, compute DP,
    validate), at the recipe's world size unless the launcher already set WORLD_SIZE."""
    require_bridge(cfg)
    from megatron.bridge.training.config import runtime_config_update

    os.environ.setdefault("WORLD_SIZE", str(cfg.parallel.world_size))
    container = build_container(cfg)
    runtime_config_update(container)
    return container


def engine_config_yaml(cfg: TrainConfig) -> str:
    """The validated ConfigContainer as YAML (`infir train RECIPE --dry-run --engine-config`)."""
    import yaml

    def plain(value: Any) -> Any:  # dtypes, enums, callables -> their repr; YAML keeps the rest as is
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value if value is None or type(value) in (bool, int, float, str) else str(value)  # not IntEnum

    return yaml.safe_dump(plain(validated_container(cfg).to_dict()), sort_keys=False, default_flow_style=None)


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
    """Megatron torch_dist checkpoint -> HF safetensors in export_dir, written to a temp folder and
    renamed, so a reader never sees half an export."""
    from megatron.bridge import AutoBridge

    out = export_dir(cfg)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    bridge = AutoBridge.from_hf_pretrained(str(export_reference(cfg)))
    bridge.export_ckpt(megatron_path=str(Path(cfg.checkpoint.dir) / "checkpoints"), hf_path=str(tmp))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def require_bridge(cfg: Any) -> None:
    """One clear error where Megatron-Bridge is missing (a CPU machine), instead of a traceback."""
    try:
        import megatron.bridge  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "engine",
            f"{cfg.name} runs on the Megatron engine, which needs Megatron-Bridge and CUDA ({exc.msg}): run it "
            "inside the NVIDIA container (`infir launch`), or use a *_tiny recipe or engine=cpu on this machine",
        ) from None


def train(cfg: TrainConfig) -> Any:
    """Run under torchrun inside the NVIDIA container (launcher/ renders that), then export the final
    weights to HF format so anneal/SFT/eval (which take HF folders) can start from them."""
    require_bridge(cfg)
    from megatron.bridge.training.gpt_step import forward_step

    container = build_container(cfg)
    if cfg.stage == "sft":
        from megatron.bridge.training.finetune import finetune

        result = finetune(container, forward_step)
    else:
        from megatron.bridge.training.pretrain import pretrain

        result = pretrain(container, forward_step)
    # Bridge destroys the process group it made, so dist.is_initialized() is False here on every rank:
    # the launcher's RANK decides who exports (one writer), the others are done.
    if int(os.environ.get("RANK", "0")) == 0:
        export_hf(cfg)
    return result
