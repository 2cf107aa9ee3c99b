"""`infir vlm assemble`: the InfiR-VL starting checkpoint, SigLIP + a fresh MLP projector + InfiR-1B-Base.

The GPU stages train a Hugging Face LLaVA checkpoint (`LlavaForConditionalGeneration`), the format
`recipes/vlm/bridge_model.py` converts to and from Megatron. Stage 1 needs one to start from, and nobody
publishes ours, so this builds it from the two parts the paper names (docs/PAPER.md section 5):
- the vision tower: SigLIP-So400m's vision encoder (a full SigLIP checkpoint or a vision-only one);
- the projector: LLaVA's 2-layer MLP (vision hidden -> LM hidden, GELU, LM hidden -> LM hidden), freshly
  initialised from `seed` (stage 1 trains only it);
- the language model: InfiR-1B-Base (any Llama checkpoint) with its tokenizer, plus one `<image>` token
  that the processor repeats once per patch (SigLIP 384 px / patch 14: 729 per image) and the model
  replaces with the projected patches. Every patch of SigLIP's last layer is used (strategy "full").

The processor (SigLIP's image processor, the tokenizer, a Llama-3 chat template that writes images as
`<image>`) is saved with the model: Megatron-Bridge's VLM data path loads it from the same folder.
Written to a temporary folder and renamed, so a reader never sees half a checkpoint.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from infir.config import ConfigError

IMAGE_TOKEN = "<image>"

#: Llama 3's chat format over LLaVA-style content lists: an image part is written as the image token
#: (the processor expands it to one token per patch), a text part as its text.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}{{ '" + IMAGE_TOKEN + "' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)


def _vision_config(path: Path):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path, local_files_only=True)
    if config.model_type == "siglip":  # a full SigLIP (text + vision) checkpoint: keep the vision half
        config = config.vision_config
    if config.model_type != "siglip_vision_model":
        raise ConfigError("vision", f"{path} is a {config.model_type!r} checkpoint, not SigLIP")
    config.vision_use_head = False  # LLaVA reads patches, never SigLIP's pooling head
    return config


def _need_folder(path: str | Path, field: str, what: str) -> Path:
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ConfigError(field, f"{path} is not a Hugging Face {what} folder (no config.json)")
    return path


def assemble(vision: str | Path, llm: str | Path, output: str | Path, seed: int = 1234) -> Path:
    """Write the LLaVA checkpoint (model + processor) to `output`; returns it."""
    import torch
    from transformers import (
        AutoTokenizer,
        LlamaForCausalLM,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        SiglipImageProcessor,
        SiglipVisionModel,
    )

    vision, llm, output = (
        _need_folder(vision, "vision", "SigLIP"),
        _need_folder(llm, "llm", "Llama"),
        Path(output),
    )
    vcfg = _vision_config(vision)
    lm = LlamaForCausalLM.from_pretrained(llm, local_files_only=True, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(llm, local_files_only=True)
    if "<|start_header_id|>" not in tok.get_vocab():
        raise ConfigError("llm", f"{llm}: the tokenizer has no Llama 3 chat tokens (<|start_header_id|>)")
    tok.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    if image_id >= lm.config.vocab_size:  # a new row; its value never matters (patches replace it)
        lm.resize_token_embeddings(len(tok), mean_resizing=False)
    tcfg = lm.config
    patches = (vcfg.image_size // vcfg.patch_size) ** 2
    config = LlavaConfig(
        vision_config=vcfg, text_config=tcfg, image_token_index=image_id, projector_hidden_act="gelu",
        vision_feature_select_strategy="full", vision_feature_layer=-1, image_seq_length=patches,
        multimodal_projector_bias=True, tie_word_embeddings=tcfg.tie_word_embeddings,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    siglip = SiglipVisionModel.from_pretrained(
        vision, config=vcfg, local_files_only=True, dtype=torch.float32
    )
    model.model.vision_tower.load_state_dict(siglip.state_dict())
    model.model.language_model.load_state_dict(lm.model.state_dict())
    model.lm_head.load_state_dict(lm.lm_head.state_dict())
    if tcfg.tie_word_embeddings:
        model.tie_weights()
    try:
        images = SiglipImageProcessor.from_pretrained(vision, local_files_only=True)
    except OSError:  # a vision folder without preprocessor_config.json: SigLIP's defaults at its size
        images = SiglipImageProcessor(size={"height": vcfg.image_size, "width": vcfg.image_size})
    processor = LlavaProcessor(
        image_processor=images, tokenizer=tok, patch_size=vcfg.patch_size, vision_feature_select_strategy="full",
        chat_template=CHAT_TEMPLATE, image_token=IMAGE_TOKEN, num_additional_image_tokens=0,
    )  # fmt: skip
    tmp = output.with_name(output.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    shutil.rmtree(output, ignore_errors=True)
    tmp.rename(output)
    return output
