"""The tiny CPU VLM: a small ViT + MLP projector + HF LlamaForCausalLM, LLaVA-style.

Image patch features are projected into the LM's embedding space and prepended to the text embeddings;
labels over image positions are -100, so the loss is on text only. The three parts are attributes
`vision`, `projector`, `llm`: the freeze schedule addresses them by those names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from infir.recipes.vlm.config import VLMTrainConfig

GROUPS = ("vision", "projector", "llm")
IGNORE = -100


class ByteTokenizer:
    """UTF-8 bytes as ids 0..255, then pad/bos/eos: the tiny LM needs no tokenizer files."""

    pad_id, bos_id, eos_id = 256, 257, 258
    vocab_size = 259

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


class TinyViT(nn.Module):
    """Patch embedding (a strided conv) + learned positions + pre-norm transformer encoder layers."""

    def __init__(self, image_size: int, patch: int, hidden: int, layers: int, heads: int):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, hidden, kernel_size=patch, stride=patch)
        self.pos = nn.Parameter(torch.randn(1, (image_size // patch) ** 2, hidden) * 0.02)
        layer = nn.TransformerEncoderLayer(
            hidden, heads, dim_feedforward=4 * hidden, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, patches, hidden)
        x = self.patch_embed(pixels).flatten(2).transpose(1, 2) + self.pos
        return self.norm(self.encoder(x))


class MLPProjector(nn.Module):
    def __init__(self, vision_hidden: int, hidden: int, llm_hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(vision_hidden, hidden), nn.GELU(), nn.Linear(hidden, llm_hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TinyVLM(nn.Module):
    def __init__(self, cfg: VLMTrainConfig):
        super().__init__()
        from transformers import LlamaConfig, LlamaForCausalLM

        v, lm = cfg.vision, cfg.llm
        self.vision = TinyViT(v.image_size, v.patch, v.hidden, v.layers, v.heads)
        self.projector = MLPProjector(v.hidden, cfg.projector.hidden, lm.hidden)
        if lm.init_path:
            self.llm = LlamaForCausalLM.from_pretrained(lm.init_path, local_files_only=True)
        else:
            llama_cfg = LlamaConfig(
                vocab_size=lm.vocab,
                hidden_size=lm.hidden,
                intermediate_size=lm.ffn,
                num_hidden_layers=lm.layers,
                num_attention_heads=lm.heads,
                num_key_value_heads=lm.kv_heads,
                max_position_embeddings=cfg.image_tokens + cfg.data.seq_length,
                tie_word_embeddings=True,
                rope_theta=500000.0,
            )
            self.llm = LlamaForCausalLM(llama_cfg)

    def forward(
        self,
        pixels: torch.Tensor,
        input_ids: torch.Tensor,
        labels: torch.Tensor,
        attention_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Mean next-token loss over text labels (image positions and prompt tokens carry -100)."""
        image = self.projector(self.vision(pixels))
        text = self.llm.get_input_embeddings()(input_ids)
        embeds = torch.cat([image, text], dim=1)
        n_img = image.shape[1]
        pad = torch.full((labels.shape[0], n_img), IGNORE, dtype=labels.dtype)
        mask = torch.cat(
            [torch.ones(attention_mask.shape[0], n_img, dtype=attention_mask.dtype), attention_mask], 1
        )
        out = self.llm(inputs_embeds=embeds, attention_mask=mask, labels=torch.cat([pad, labels], 1))
        return out.loss

    def groups(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in GROUPS}


def load_image(path: str | Path, size: int) -> torch.Tensor:
    """RGB, resized to size x size, scaled to [-1, 1] (SigLIP's mean/std of 0.5)."""
    from PIL import Image

    with Image.open(path) as img:
        arr = np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32)
    return torch.from_numpy(arr / 127.5 - 1.0).permute(2, 0, 1)


def save_checkpoint(model: TinyVLM, folder: str | Path) -> Path:
    """safetensors of the whole model (save_model handles the LM's tied embeddings)."""
    from safetensors.torch import save_model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.safetensors"
    save_model(model, str(path))
    return path


def load_checkpoint(model: TinyVLM, folder: str | Path) -> None:
    from safetensors.torch import load_model

    from infir.config import ConfigError

    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        raise ConfigError(
            "checkpoint.load", f"no model.safetensors in {folder} (run the previous stage first)"
        )
    load_model(model, str(path), strict=True)
