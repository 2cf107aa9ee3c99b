"""The training config shared by both engines (CPU twin and Megatron-Bridge): one strict dataclass tree.

Recipes (recipes/llm.py) return a `TrainConfig`; YAML files and `a.b=c` overrides are layered on top with
`infir.config.resolve`. Fields use Megatron-Bridge's vocabulary where one exists (num_query_groups,
ffn_hidden_size, micro/global batch), so recipes/bridge.py maps them one to one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from infir.config import fail


@dataclass
class ModelConfig:
    """Llama-3.2-1B by default (docs/PAPER.md section 4)."""

    num_layers: int = field(default=16, metadata={"ge": 1})
    hidden_size: int = field(default=2048, metadata={"ge": 1})
    ffn_hidden_size: int = field(default=8192, metadata={"ge": 1})
    num_attention_heads: int = field(default=32, metadata={"ge": 1})
    num_query_groups: int = field(default=8, metadata={"ge": 1})
    vocab_size: int = field(default=128256, metadata={"ge": 2})
    tie_embeddings: bool = True
    rope_theta: float = field(default=500000.0, metadata={"gt": 0})
    rope_scaling: Literal["llama3", "none"] = "llama3"
    max_position_embeddings: int = field(default=131072, metadata={"ge": 1})
    norm_eps: float = field(default=1e-5, metadata={"gt": 0})

    def validate(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            fail("hidden_size", f"{self.hidden_size} is not divisible by num_attention_heads")
        if self.num_attention_heads % self.num_query_groups:
            fail("num_query_groups", "must divide num_attention_heads")


@dataclass
class DataConfig:
    """Pretrain/anneal read a blend YAML of Megatron prefixes; SFT reads chat JSONL files."""

    blend: str | None = None  # path to a blend YAML `{blend: [[weight, prefix], ...]}` (infir mix)
    tokenizer: str | None = None  # local HF tokenizer folder (Llama-3.2's for real runs)
    sft_files: list[str] = field(default_factory=list)  # JSONL with `messages` or `prompt`/`response`
    split: str = "100,0,0"


@dataclass
class OptimConfig:
    """AdamW. Only `lr` is from the paper; the rest are Megatron-Bridge's Llama-3 recipe defaults."""

    lr: float = field(default=1.4e-3, metadata={"gt": 0})
    min_lr: float = field(default=1.4e-4, metadata={"ge": 0})  # Bridge: min_lr = lr / 10
    weight_decay: float = field(default=0.1, metadata={"ge": 0})
    adam_beta1: float = field(default=0.9, metadata={"ge": 0, "lt": 1})
    adam_beta2: float = field(default=0.95, metadata={"ge": 0, "lt": 1})
    adam_eps: float = field(default=1e-5, metadata={"gt": 0})
    clip_grad: float = field(default=1.0, metadata={"ge": 0})


@dataclass
class ScheduleConfig:
    """LR after a linear warmup: `cosine`/`linear` decay to min_lr over the rest of the run; `constant`
    stays at lr (pretrain: the paper's "1.4e-3 throughout"); `wsd` (warmup-stable-decay) stays at lr and
    then decays to min_lr over the last `decay_steps` (all steps after warmup when null: the anneal, which
    continues the pretrain's optimizer and "converges due to the decay of the learning rate")."""

    style: Literal["cosine", "linear", "constant", "wsd"] = "cosine"
    warmup_steps: int | None = field(default=2000, metadata={"ge": 0})  # Bridge Llama-3 default
    warmup_ratio: float | None = field(default=None, metadata={"ge": 0, "le": 1})  # SFT: 0.1
    #: wsd only: the shape of the final decay (1-sqrt: lr * (1 - sqrt(progress)), as in the WSD papers)
    decay_style: Literal["linear", "cosine", "1-sqrt"] = "linear"
    decay_steps: int | None = field(default=None, metadata={"ge": 1})

    def validate(self) -> None:
        if (self.warmup_steps is None) == (self.warmup_ratio is None):
            fail("warmup_steps", "set exactly one of warmup_steps / warmup_ratio (the other null)")
        if self.decay_steps is not None and self.style != "wsd":
            fail("decay_steps", f"only style=wsd has a separate decay phase, got style={self.style}")


@dataclass
class TrainSection:
    global_batch_size: int = field(default=2048, metadata={"ge": 1})  # sequences per optimizer step
    micro_batch_size: int = field(default=4, metadata={"ge": 1})
    seq_length: int = field(default=4096, metadata={"ge": 2})
    train_tokens: int | None = field(default=None, metadata={"ge": 1})
    train_steps: int | None = field(default=None, metadata={"ge": 1})
    epochs: int | None = field(default=None, metadata={"ge": 1})  # SFT: passes over the packed data
    log_interval: int = field(default=1, metadata={"ge": 1})

    def validate(self) -> None:
        given = [n for n in ("train_tokens", "train_steps", "epochs") if getattr(self, n) is not None]
        if len(given) != 1:
            fail("train_tokens", f"set exactly one of train_tokens / train_steps / epochs, got {given}")

    def steps(self) -> int | None:
        """Optimizer steps, when known without the data (epochs need the SFT pack count)."""
        if self.train_steps is not None:
            return self.train_steps
        if self.train_tokens is not None:
            return max(1, self.train_tokens // (self.global_batch_size * self.seq_length))
        return None


@dataclass
class ParallelConfig:
    tp: int = field(default=1, metadata={"ge": 1})
    pp: int = field(default=1, metadata={"ge": 1})
    cp: int = field(default=1, metadata={"ge": 1})
    dp: int = field(default=1, metadata={"ge": 1})
    sequence_parallel: bool = False
    use_distributed_optimizer: bool = True
    overlap_grad_reduce: bool = True
    overlap_param_gather: bool = True

    @property
    def world_size(self) -> int:
        return self.tp * self.pp * self.cp * self.dp


@dataclass
class CheckpointSection:
    dir: str = "runs/train"
    save_interval: int = field(default=1000, metadata={"ge": 1})
    resume: bool = True  # continue from the latest checkpoint in `dir` when there is one
    keep_last: int = field(default=2, metadata={"ge": 1})


@dataclass
class InitConfig:
    """Where the weights start: random (`scratch`), a HF checkpoint folder or an earlier stage's export
    (`hf`), or an earlier run's last checkpoint, optimizer state included (`checkpoint`: path = that run's
    checkpoint.dir; the anneal continues the pretrain's Adam moments, with its own step count and LR)."""

    kind: Literal["scratch", "hf", "checkpoint"] = "scratch"
    path: str | None = None

    def validate(self) -> None:
        if self.kind in ("hf", "checkpoint") and not self.path:
            what = (
                "a local Hugging Face model folder"
                if self.kind == "hf"
                else "the earlier run's checkpoint.dir"
            )
            fail("path", f"init.kind={self.kind} needs init.path ({what})")


@dataclass
class SFTConfig:
    chat_template: Literal["llama3"] = "llama3"
    mask_prompt: bool = True
    #: off by default: the paper's "batch size 128" is 128 samples; packing would make each of the 128
    #: rows a 4,096-token pack of several samples and cut the optimizer steps several-fold
    packing: bool = False


@dataclass
class TrainConfig:
    name: str = "train"
    stage: Literal["pretrain", "anneal", "sft"] = "pretrain"
    engine: Literal["cpu", "megatron"] = "megatron"
    precision: Literal["bf16", "fp8", "fp32"] = "bf16"  # the CPU engine always computes in fp32
    seed: int = 1234
    notes: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainSection = field(default_factory=lambda: TrainSection(train_tokens=1))
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    init: InitConfig = field(default_factory=InitConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)

    def validate(self) -> None:
        t, p = self.train, self.parallel
        if t.global_batch_size % (t.micro_batch_size * p.dp):
            fail(
                "train.global_batch_size",
                f"{t.global_batch_size} is not divisible by micro_batch_size*dp = {t.micro_batch_size * p.dp}",
            )
        if self.model.num_layers % p.pp:
            fail("parallel.pp", f"must divide model.num_layers ({self.model.num_layers})")
        if self.model.num_query_groups % p.tp:
            fail("parallel.tp", f"must divide model.num_query_groups ({self.model.num_query_groups})")
        if t.seq_length % (2 * p.cp) and p.cp > 1:
            fail("parallel.cp", "train.seq_length must be divisible by 2*cp for context parallelism")
        if self.optim.min_lr > self.optim.lr:
            fail("optim.min_lr", "must be <= optim.lr")
        if self.stage == "sft" and t.epochs is None and t.train_steps is None:
            fail("train.epochs", "SFT runs are sized in epochs (or train_steps)")
        if self.engine == "cpu" and p.world_size != 1:
            fail("parallel", "the CPU engine runs one process: tp=pp=cp=dp=1")
        if self.engine == "cpu" and self.precision == "fp8":
            fail("precision", "fp8 needs Transformer Engine on a GPU (engine=megatron)")
