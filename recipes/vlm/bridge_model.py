"""InfiR-VL on Megatron-Bridge: the model, its provider, and the HF <-> Megatron bridge for our checkpoint.

Megatron-Bridge (0.5.x) ships no bridge for `LlavaForConditionalGeneration`, the format our VLM checkpoint
takes (`infir vlm assemble`: SigLIP-So400m + a 2-layer GELU MLP projector + InfiR-1B-Base). This module
adds one, composed the way Bridge's own Gemma-3-VL is: the vision tower is the Hugging Face SigLIP module
(replicated on every tensor-parallel rank, as Bridge does for Gemma-3's SigLIP), the projector keeps LLaVA's
parameter names, and the language model is the megatron-core GPT model Bridge's Llama bridge describes.
Importing this module registers the bridge, so `AutoBridge.from_hf_pretrained(<our checkpoint>)` returns an
`InfirVLModelProvider` whose freeze flags really freeze (they are applied in `provide()`).

Imports Megatron-Bridge at module level: import it only inside the container or the Bridge check venv.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

import torch
from megatron.bridge.models.conversion.mapping_registry import MegatronMappingRegistry
from megatron.bridge.models.conversion.model_bridge import MegatronModelBridge
from megatron.bridge.models.conversion.param_mapping import (
    AutoMapping,
    GatedMLPMapping,
    QKVMapping,
    ReplicatedMapping,
)
from megatron.bridge.models.gpt_provider import GPTModelProvider
from megatron.bridge.models.llama.llama_bridge import LlamaBridge
from megatron.bridge.utils.common_utils import hook_hf_module_setattr_for_tp_grad_sync
from megatron.core.models.gpt import GPTModel
from megatron.core.transformer.module import MegatronModule
from torch import nn
from transformers import AutoModel, SiglipVisionConfig


class LlavaProjector(nn.Module):
    """LLaVA's projector (vision hidden -> LM hidden -> GELU -> LM hidden), with LLaVA's parameter names."""

    def __init__(self, vision_hidden: int, hidden: int, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(vision_hidden, hidden, dtype=dtype)
        self.act = nn.GELU()
        self.linear_2 = nn.Linear(hidden, hidden, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(x)))


class InfirVLModel(MegatronModule):
    """SigLIP patches -> projector -> spliced into the LM's embeddings at the image tokens -> GPT decoder."""

    def __init__(self, config: InfirVLModelProvider, pre_process: bool = True, post_process: bool = True,
                 vp_stage: int | None = None) -> None:  # fmt: skip
        super().__init__(config=config)
        self.pre_process, self.post_process, self.vp_stage = pre_process, post_process, vp_stage
        if pre_process:  # only the first pipeline stage sees pixels
            vision = AutoModel.from_config(config.vision_config)
            # LLaVA keeps SigLIP's encoder flat under vision_tower.* (no vision_model. level, no pooling head)
            self.vision_tower = getattr(vision, "vision_model", vision).to(config.params_dtype)
            self.multi_modal_projector = LlavaProjector(
                config.vision_config.hidden_size, config.hidden_size, dtype=config.params_dtype
            )
            hook_hf_module_setattr_for_tp_grad_sync(self.vision_tower)
            hook_hf_module_setattr_for_tp_grad_sync(self.multi_modal_projector)
        self.language_model = config.provide_language_model(pre_process, post_process, vp_stage)
        # Megatron's grad finalisation looks for these on the outer module
        self.share_embeddings_and_output_weights = config.share_embeddings_and_output_weights
        self.shared_embedding_or_output_weight = self.language_model.shared_embedding_or_output_weight

    def set_input_tensor(self, input_tensor: Any) -> None:
        self.language_model.set_input_tensor(input_tensor)

    def freeze(self, *, freeze_language_model: bool, freeze_vision_model: bool,
               freeze_vision_projection: bool) -> None:  # fmt: skip
        parts = {"language_model": freeze_language_model}
        if self.pre_process:
            parts |= {"vision_tower": freeze_vision_model, "multi_modal_projector": freeze_vision_projection}
        for name, frozen in parts.items():
            for p in getattr(self, name).parameters():
                p.requires_grad_(not frozen)
        if self.pre_process and getattr(self.vision_tower, "post_layernorm", None) is not None:
            # never on the forward path (LLaVA reads the patches before it): trainable, it would only be
            # shrunk by weight decay, and the exported checkpoint would differ for nothing
            self.vision_tower.post_layernorm.requires_grad_(False)

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(images, 3, H, W) -> (images, patches, LM hidden): every patch of the last encoder layer.

        As HF LLaVA's `vision_feature_layer=-1`: the encoder's last hidden state *before* SigLIP's
        post_layernorm (hidden_states[-1]), not `last_hidden_state`, which has the norm applied.
        """
        dtype = next(self.vision_tower.parameters()).dtype
        out = self.vision_tower(pixel_values=pixel_values.to(dtype), output_hidden_states=True)
        return self.multi_modal_projector(out.hidden_states[-1])

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                pixel_values: torch.Tensor | None = None, loss_mask: torch.Tensor | None = None,
                packed_seq_params: Any = None, **_: Any) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
        decoder_input = None
        if self.pre_process:
            embeds = self.language_model.embedding(input_ids=input_ids, position_ids=None)  # (T, B, H)
            if pixel_values is not None:
                image_slots = (input_ids == self.config.image_token_id).transpose(0, 1)  # (T, B)
                features = self.image_features(pixel_values)
                if int(image_slots.sum()) != features.shape[0] * features.shape[1]:
                    raise ValueError(
                        f"{int(image_slots.sum())} image tokens in the text, but the images give "
                        f"{features.shape[0]} x {features.shape[1]} patch embeddings"
                    )
                # images in batch order, patches in order: the (T, B) slot order is time-major, so fill
                # batch-major through a transposed view
                embeds = embeds.transpose(0, 1).clone()
                embeds[image_slots.transpose(0, 1)] = features.reshape(-1, embeds.shape[-1]).to(embeds.dtype)
                embeds = embeds.transpose(0, 1).contiguous()
            decoder_input = embeds
        out = self.language_model(
            input_ids=None, position_ids=position_ids, attention_mask=attention_mask,
            decoder_input=decoder_input, labels=labels, loss_mask=loss_mask, packed_seq_params=packed_seq_params,
        )  # fmt: skip
        return out, loss_mask


@dataclass
class InfirVLModelProvider(GPTModelProvider):
    """A Llama GPT provider plus the SigLIP tower, the projector and the stage's freeze flags."""

    # image patches are spliced into the embeddings, so the embeddings must not be scattered early
    scatter_embedding_sequence_parallel: bool = False
    vision_config: SiglipVisionConfig = field(default_factory=SiglipVisionConfig)
    image_token_id: int = 128256
    freeze_language_model: bool = False
    freeze_vision_model: bool = False
    freeze_vision_projection: bool = False

    def provide(self, pre_process: bool | None = None, post_process: bool | None = None,
                vp_stage: int | None = None) -> InfirVLModel:  # fmt: skip
        model = InfirVLModel(
            self,
            pre_process=True if pre_process is None else pre_process,
            post_process=True if post_process is None else post_process,
            vp_stage=vp_stage,
        )
        model.freeze(
            freeze_language_model=self.freeze_language_model,
            freeze_vision_model=self.freeze_vision_model,
            freeze_vision_projection=self.freeze_vision_projection,
        )
        return model

    def provide_language_model(self, pre_process: bool | None, post_process: bool | None,
                               vp_stage: int | None) -> GPTModel:  # fmt: skip
        return GPTModelProvider.provide(
            self, pre_process=pre_process, post_process=post_process, vp_stage=vp_stage
        )


def _prefixed_llama_mappings() -> list[Any]:
    """Llama's mappings with the LLaVA prefixes: HF `language_model.` + Llama name, Megatron
    `language_model.` + GPT name (a LLaVA checkpoint keeps the Llama keys under `language_model.`)."""
    out = []
    for m in LlamaBridge().mapping_registry().mappings:
        hf = m.hf_param
        hf = (
            {k: f"language_model.{v}" for k, v in hf.items()}
            if isinstance(hf, dict)
            else f"language_model.{hf}"
        )
        meg = f"language_model.{m.megatron_param}"
        if isinstance(m, QKVMapping):
            out.append(QKVMapping(megatron_param=meg, **hf))
        elif isinstance(m, GatedMLPMapping):
            out.append(GatedMLPMapping(megatron_param=meg, **hf))
        else:
            out.append(AutoMapping(megatron_param=meg, hf_param=hf))
    return out


@MegatronModelBridge.register_bridge(
    source="LlavaForConditionalGeneration",
    target=InfirVLModel,
    provider=InfirVLModelProvider,
    model_type="llava",
)
class InfirVLBridge(LlamaBridge):
    """HF LLaVA (SigLIP + MLP + Llama) <-> InfirVLModel; the LM part is Llama's bridge, prefixed."""

    def provider_bridge(self, hf_pretrained: Any) -> InfirVLModelProvider:
        cfg = hf_pretrained.config
        if getattr(cfg.vision_config, "model_type", "") != "siglip_vision_model":
            raise ValueError(f"InfiR-VL expects a SigLIP vision tower, got {cfg.vision_config.model_type!r}")
        if cfg.vision_feature_select_strategy != "full" or cfg.vision_feature_layer not in (-1, None):
            raise ValueError("InfiR-VL takes every patch of SigLIP's last layer (strategy 'full', layer -1)")
        # Llama's provider settings (RMSNorm, SwiGLU, llama3 rope scaling) from the text config
        provider = super().provider_bridge(types.SimpleNamespace(config=cfg.text_config))
        provider.vision_config = cfg.vision_config
        provider.image_token_id = cfg.image_token_index
        return provider

    def mapping_registry(self) -> MegatronMappingRegistry:
        return MegatronMappingRegistry(
            *_prefixed_llama_mappings(),
            ReplicatedMapping(megatron_param="vision_tower.**", hf_param="vision_tower.**"),
            ReplicatedMapping(megatron_param="multi_modal_projector.**", hf_param="multi_modal_projector.**"),
        )
