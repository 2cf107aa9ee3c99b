"""A small byte-level BPE tokenizer shaped like Llama 3's, for tests and the demo.

The real recipe keeps Llama-3.2's tokenizer (InfiR-1B was continually pretrained from Llama-3.2-1B), given
as a local Hugging Face tokenizer folder. Tests and the demo cannot download it, so `train_bpe` trains a
tokenizer with the same moving parts: Llama 3's pre-tokenizer regex + byte-level BPE, its special tokens
appended after the learned vocabulary (as in Llama 3, where they sit at 128000+), BOS added by the
post-processor, EOS = <|end_of_text|>, and Llama 3's chat template, so `apply_chat_template` works offline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Llama 3's pre-tokenizer split (tokenizer.json of Meta-Llama-3/3.2): contractions, letter runs, numbers in
#: groups of up to three digits, punctuation runs, newlines, spaces.
LLAMA3_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

BOS_TOKEN = "<|begin_of_text|>"
EOS_TOKEN = "<|end_of_text|>"
PAD_TOKEN = "<|finetune_right_pad_id|>"  # Llama 3.1+/3.2 reserve this id for padding
START_HEADER = "<|start_header_id|>"
END_HEADER = "<|end_header_id|>"
EOT_TOKEN = "<|eot_id|>"
#: In Llama 3's id order (128000, 128001, 128004, 128006, 128007, 128009), without the reserved gaps.
SPECIAL_TOKENS = [BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, START_HEADER, END_HEADER, EOT_TOKEN]

#: Meta-Llama-3-8B-Instruct's chat template, verbatim: each message is
#: <|start_header_id|>role<|end_header_id|>\n\n content <|eot_id|>, BOS before the first one.
LLAMA3_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def train_bpe(texts: Iterable[str], vocab_size: int, out_dir: Path, min_frequency: int = 2) -> Path:
    """Train a Llama-3-style byte-level BPE on `texts` and save it as a Hugging Face tokenizer folder.

    `vocab_size` counts everything: learned merges + 256 byte symbols + the special tokens. The folder
    loads with `transformers.AutoTokenizer.from_pretrained(out_dir)` offline. Returns `out_dir`.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    n_bytes = len(pre_tokenizers.ByteLevel.alphabet())
    if vocab_size < n_bytes + len(SPECIAL_TOKENS):
        raise ValueError(
            f"vocab_size must be >= {n_bytes + len(SPECIAL_TOKENS)} (256 bytes + "
            f"{len(SPECIAL_TOKENS)} special tokens), got {vocab_size}"
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(SPECIAL_TOKENS),
        min_frequency=min_frequency,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # Special tokens go after the learned vocabulary, as in Llama 3.
    tok.add_special_tokens(SPECIAL_TOKENS)
    bos_id = tok.token_to_id(BOS_TOKEN)
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS_TOKEN} $A",
                pair=f"{BOS_TOKEN} $A {BOS_TOKEN}:1 $B:1",
                special_tokens=[(BOS_TOKEN, bos_id)],
            ),
        ]
    )
    return _save_hf(tok, Path(out_dir))


def _save_hf(tok: Any, out_dir: Path) -> Path:
    """Save a trained `tokenizers.Tokenizer` as a Hugging Face folder with Llama 3's special tokens and chat
    template, loadable by transformers 4.x (NVIDIA's container) and 5.x alike."""
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        model_input_names=["input_ids", "attention_mask"],
        clean_up_tokenization_spaces=False,
        model_max_length=131072,  # Llama 3.2's context length
    )
    hf.chat_template = LLAMA3_CHAT_TEMPLATE
    out_dir.mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(str(out_dir))
    # transformers 5 writes its own class name; the generic name also loads in transformers 4.x (the NVIDIA
    # container's), so the same folder serves both engines.
    config_path = out_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config["chat_template"] = LLAMA3_CHAT_TEMPLATE  # older transformers read it here, not chat_template.jinja
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return out_dir
