"""`VLMTrainConfig`: one strict config for the three InfiR-VL stages, on either engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from infir.config import fail


@dataclass
class VisionConfig:
    encoder: str = "siglip-so400m-patch14-384"  # a name for logs; the weights come from `path`
    path: str | None = None  # local HF checkpoint of the encoder (GPU engine); None = random tiny ViT
    image_size: int = field(default=384, metadata={"gt": 0})
    patch: int = field(default=14, metadata={"gt": 0})
    hidden: int = field(default=1152, metadata={"gt": 0})
    layers: int = field(default=27, metadata={"gt": 0})
    heads: int = field(default=16, metadata={"gt": 0})

    def validate(self) -> None:
        # SigLIP-So400m: 384 px / patch 14 -> 27 x 27 patches (the conv drops the 6-pixel remainder)
        if self.patch > self.image_size:
            fail("patch", f"must be <= image_size ({self.image_size}), got {self.patch}")
        if self.hidden % self.heads:
            fail("hidden", f"must be divisible by heads ({self.heads})")


@dataclass
class ProjectorConfig:
    hidden: int = field(default=2048, metadata={"gt": 0})  # MLP: vision -> hidden -> GELU -> llm hidden


@dataclass
class LLMConfig:
    init_path: str | None = (
        None  # GPU engine: the LLaVA checkpoint `infir vlm assemble` builds; None = random
    )
    hidden: int = field(default=2048, metadata={"gt": 0})
    layers: int = field(default=16, metadata={"gt": 0})
    heads: int = field(default=32, metadata={"gt": 0})
    kv_heads: int = field(default=8, metadata={"gt": 0})
    ffn: int = field(default=8192, metadata={"gt": 0})
    vocab: int = field(default=128256, metadata={"gt": 0})

    def validate(self) -> None:
        if self.hidden % self.heads or self.heads % self.kv_heads:
            fail("heads", "hidden must divide by heads and heads by kv_heads")


@dataclass
class FreezeConfig:
    vision: bool = True
    projector: bool = False
    llm: bool = True

    def validate(self) -> None:
        if self.vision and self.projector and self.llm:
            fail("freeze", "every part is frozen: nothing would train")


@dataclass
class DataConfig:
    train: str | None = None  # JSONL of {"image": path (relative to the file), "text"|"messages"}
    max_text_tokens: int = field(default=64, metadata={"gt": 0})
    seq_length: int = field(default=4096, metadata={"gt": 0})


@dataclass
class OptimConfig:
    lr: float = field(default=1e-3, metadata={"gt": 0})
    min_lr: float = field(default=0.0, metadata={"ge": 0})
    weight_decay: float = field(default=0.0, metadata={"ge": 0})
    warmup_ratio: float = field(default=0.03, metadata={"ge": 0, "lt": 1})
    beta1: float = field(default=0.9, metadata={"gt": 0, "lt": 1})
    beta2: float = field(default=0.999, metadata={"gt": 0, "lt": 1})
    clip_grad: float = field(default=1.0, metadata={"ge": 0})


@dataclass
class CheckpointConfig:
    save: str | None = None  # folder this stage writes (model.safetensors + config + state)
    load: str | None = None  # the previous stage's folder; this stage starts from its weights


@dataclass
class VLMTrainConfig:
    name: str = "vlm"
    stage: Literal[1, 2, 3] = 1
    engine: Literal["cpu", "megatron"] = "megatron"
    vision: VisionConfig = field(default_factory=VisionConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = field(default=1000, metadata={"gt": 0})
    global_batch_size: int = field(default=256, metadata={"gt": 0})
    micro_batch_size: int = field(default=8, metadata={"gt": 0})
    dp: int = field(default=1, metadata={"gt": 0})  # data-parallel GPUs: the batch split must be whole
    seed: int = 1234
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)

    def validate(self) -> None:
        if self.global_batch_size % (self.micro_batch_size * self.dp):
            fail(
                "global_batch_size",
                f"{self.global_batch_size} is not divisible by micro_batch_size*dp = {self.micro_batch_size}*{self.dp}",
            )

    @property
    def image_tokens(self) -> int:
        return (self.vision.image_size // self.vision.patch) ** 2
