"""Greedy answers from a tiny CPU VLM checkpoint (config.yaml + model.safetensors from the CPU engine).

The benchmark suites (ScreenSpot, MMMU) score a predictions file; on a laptop this writes it from the toy
checkpoint, with the prompt built as in training (train_cpu._prompt_answer: BOS, text, newline, then the
answer). A GPU model writes its own predictions file with its own serving stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from infir.config import ConfigError


def greedy_answers(
    checkpoint: str | Path, items: Sequence[tuple[Path, str]], max_new_tokens: int = 64
) -> list[str]:
    """One greedy answer per (image path, prompt); a missing image is a ConfigError naming it."""
    import torch

    from infir.config import load_yaml, resolve
    from infir.recipes.vlm.config import VLMTrainConfig
    from infir.recipes.vlm.model_cpu import ByteTokenizer, TinyVLM, load_checkpoint, load_image

    folder = Path(checkpoint)
    if not (folder / "config.yaml").is_file():
        raise ConfigError("model", f"{folder}: not a CPU VLM checkpoint (no config.yaml)")
    cfg = resolve(VLMTrainConfig(), [load_yaml(folder / "config.yaml")])
    model = TinyVLM(cfg)
    load_checkpoint(model, folder)
    model.eval()
    tok = ByteTokenizer()
    answers = []
    with torch.no_grad():
        for image, prompt in items:
            if not image.is_file():
                raise ConfigError("data", f"image not found: {image}")
            ids = [tok.bos_id, *tok.encode(prompt + "\n")]
            prefix = model.projector(model.vision(load_image(image, cfg.vision.image_size)[None]))
            new: list[int] = []
            for _ in range(max_new_tokens):
                text = model.llm.get_input_embeddings()(torch.tensor([ids + new]))
                logits = model.llm(inputs_embeds=torch.cat([prefix, text], 1)).logits[0, -1]
                nxt = int(logits.argmax())
                if nxt == tok.eos_id:
                    break
                new.append(nxt)
            answers.append(tok.decode(new))
    return answers
